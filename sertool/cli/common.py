"""What every ``sertool`` command shares: error handling, common options, progress bars.

Example:
    >>> @command
    ... def features(manifest: Path, out_dir: Path, force: Force = False) -> None:
    ...     extract(manifest, out_dir, force=force)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Callable, Iterable, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sertool.errors import SertoolError

F = TypeVar("F", bound=Callable)
T = TypeVar("T")

# soft_wrap: long log lines stay whole in files and pipes instead of wrapping at 80 columns.
console = Console(stderr=True, soft_wrap=True)

Force = Annotated[bool, typer.Option("--force", help="Redo the stage even if its .done marker matches.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (recorded with the output).")]
OutDir = Annotated[Path, typer.Argument(help="Output directory (created).", file_okay=False)]


def command(fn: F) -> F:
    """Wrap a command so a :class:`SertoolError` prints one line and exits 1.

    ``SERTOOL_DEBUG=1`` re-raises instead, showing the traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SertoolError as e:
            if os.environ.get("SERTOOL_DEBUG") == "1":
                raise
            typer.echo(f"error: {e}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterable[T]:
    """Iterate ``items`` under a rich progress bar on stderr (hidden when not a terminal)."""
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        yield from bar.track(items, total=total, description=description)
