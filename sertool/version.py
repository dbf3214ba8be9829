"""Which sertool this is: its version and, when it runs from a git checkout, the commit.

Model bundles record both (:func:`provenance`), so a model card can say what trained a model.

Example:
    >>> sorted(provenance()), provenance()["version"] == __version__
    (['commit', 'version'], True)
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from sertool import __version__


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout sertool is imported from (``-dirty`` with uncommitted changes to
    tracked files), or None outside a git checkout or without git."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and dirty else (head or None)


def provenance() -> dict[str, str | None]:
    """``{"version": ..., "commit": ...}`` of the running sertool."""
    return {"version": __version__, "commit": git_commit()}
