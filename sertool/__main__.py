"""``python -m sertool`` (also what ``torchrun -m sertool`` runs)."""

from sertool.cli.main import main

if __name__ == "__main__":
    main()
