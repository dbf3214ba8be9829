"""Idempotent stages and atomic writes.

Every stage writes ``<out>/.done`` holding a hash of its inputs and settings. Rerunning a
stage whose hash matches is skipped; ``force=True`` redoes it. Files are written under a
temporary name in the same directory and renamed, so a killed stage never leaves a file
that looks complete.

Example:
    >>> marker = StageMarker(out_dir, settings={"extractor": "fbank"}, inputs=[manifest])
    >>> if marker.is_done():
    ...     return
    >>> ...  # do the work
    >>> marker.mark_done()
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

DONE_NAME = ".done"


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates files readable by their owner only; outputs get the usual mode instead.
_FILE_MODE = 0o666 & ~_read_umask()


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def settings_digest(settings: Any, inputs: Iterable[str | Path] = ()) -> str:
    """One hash over JSON-serialisable settings and the contents of input files."""
    h = hashlib.sha256()
    h.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in inputs:
        h.update(str(Path(path).name).encode())
        h.update(file_digest(path).encode())
    return h.hexdigest()


class StageMarker:
    """The ``.done`` marker of one stage's output directory."""

    def __init__(self, out_dir: str | Path, settings: Any, inputs: Iterable[str | Path] = (), name: str = DONE_NAME):
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / name
        self.digest = settings_digest(settings, list(inputs))

    def is_done(self) -> bool:
        """True when the stage finished before with the same inputs and settings."""
        try:
            return json.loads(self.path.read_text())["digest"] == self.digest
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def clear(self) -> None:
        """Forget a previous completion (called before the work starts)."""
        self.path.unlink(missing_ok=True)

    def mark_done(self, **summary: Any) -> None:
        """Record completion; ``summary`` is stored beside the digest for humans."""
        atomic_write_text(self.path, json.dumps({"digest": self.digest, **summary}, indent=1))


def require_writable_dir(path: str | Path, what: str = "output directory") -> Path:
    """Create ``path`` if needed and prove it writable with a probe file, or raise a one-line error.

    Stages call it before their slow part (probing a corpus's audio, extracting features), so an
    output under a file, on a read-only mount or without permission fails in a second rather
    than after the work, and with a message instead of a traceback.

    Example::

        require_writable_dir("data/seqd")         # Path('data/seqd'), created if missing
        require_writable_dir("/proc/seqd")        # SertoolError: cannot create output directory ...
    """
    from sertool.errors import SertoolError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise SertoolError(f"{what} {path} is a file, not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
        reason = f"{blocking} is a file" if blocking is not None else e.strerror or str(e)
        raise SertoolError(f"cannot create {what} {path}: {reason}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-probe.", suffix=".tmp", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise SertoolError(f"cannot write to {what} {path}: {e.strerror or e}") from None
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s directory; rename it to ``path`` on success.

    Example:
        >>> with atomic_path("out/feats-00000.h5") as tmp:
        ...     write_shard(tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, _FILE_MODE)
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> None:
    """Write a JSON file atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def tree_fingerprint(root: str | Path, patterns: Iterable[str] = ("*",)) -> str:
    """A cheap hash of a directory tree: relative paths, sizes and mtimes of matching files.

    Used as a stage input where hashing every byte (a whole corpus) would cost too much.
    """
    root = Path(root)
    h = hashlib.sha256()
    files = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
