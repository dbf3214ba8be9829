"""``python -m sertool`` (also what ``torchrun -m sertool`` runs)."""

from .cli.main import main  # the entry point: the one module above the CLI

if __name__ == "__main__":
    main()
