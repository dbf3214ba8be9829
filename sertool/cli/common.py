"""What every ``sertool`` command shares: error handling and common options.

Example:
    >>> @command
    ... def features(manifest: Path, out_dir: Path, force: Force = False) -> None:
    ...     extract(manifest, out_dir, force=force)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from sertool.console import console, progress  # noqa: F401  (the commands' console and progress bar)
from sertool.errors import SertoolError, os_error_line

F = TypeVar("F", bound=Callable)

Force = Annotated[bool, typer.Option("--force", help="Redo the stage even if its .done marker matches.")]
Jobs = Annotated[int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (recorded with the output).")]
OutDir = Annotated[Path, typer.Argument(help="Output directory (created).")]


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
        except OSError as e:  # the file system refused (read-only, a file where a folder goes, /proc, full disk)
            if os.environ.get("SERTOOL_DEBUG") == "1":
                raise
            typer.echo(f"error: {os_error_line(e)}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
