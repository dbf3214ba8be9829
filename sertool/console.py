"""Where sertool talks to the user: one stderr console and a progress bar.

Library code reports through :data:`console` and wraps long loops in :func:`progress`; the CLI
decides nothing about it. Both write to stderr, so stdout stays free for machine-readable output
(``sertool infer`` prints JSON there).

Example:
    >>> sum(progress(range(3), "counting"))   # no bar when stderr is not a terminal
    3
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

T = TypeVar("T")

# soft_wrap: long log lines stay whole in files and pipes instead of wrapping at 80 columns.
console = Console(stderr=True, soft_wrap=True)


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate ``items`` under a rich progress bar on stderr (hidden when not a terminal)."""
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        yield from bar.track(items, total=total, description=description)
