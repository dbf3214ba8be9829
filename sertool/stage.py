"""Idempotent stages, one writer per output directory, and atomic writes.

Every stage writes ``<out>/.done`` holding a hash of its inputs and settings. Rerunning a
stage whose hash matches is skipped; ``force=True`` redoes it. Files are written under a
temporary name in the same directory and renamed, so a killed stage never leaves a file
that looks complete. While a stage writes ``<out>``, it holds :func:`output_lock` on it
(:meth:`StageMarker.clear` takes it when the caller does not), so a second process
writing the same directory is refused instead of interleaving its files.

A stage builds its marker first, returns at once when ``marker.is_done()``, otherwise calls
``marker.clear()``, does the work and ends with ``marker.mark_done()``.

Example:
    >>> with tempfile.TemporaryDirectory() as d:
    ...     manifest = Path(d) / "manifest.jsonl"
    ...     _ = manifest.write_text('{"id": "x/1"}')
    ...     marker = StageMarker(Path(d) / "feats", settings={"extractor": "fbank"}, inputs=[manifest])
    ...     before = marker.is_done()
    ...     marker.mark_done(utterances=1)                   # the work is done
    ...     after = marker.is_done()
    ...     other = StageMarker(Path(d) / "feats", settings={"extractor": "logmel"}, inputs=[manifest]).is_done()
    ...     _ = manifest.write_text('{"id": "x/2"}')
    ...     edited = StageMarker(Path(d) / "feats", settings={"extractor": "fbank"}, inputs=[manifest]).is_done()
    >>> before, after, other, edited                     # new settings or inputs: the stage runs again
    (False, True, False, False)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sertool.errors import SertoolError

DONE_NAME = ".done"
LOCK_NAME = ".lock"


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


class OutputBusyError(SertoolError):
    """Another live process holds the output lock of the directory (see :func:`output_lock`)."""


@dataclass
class _HeldLock:
    fd: int
    depth: int
    owner: int  # the pid that took it: a forked worker inherits _HELD but not the ownership


# Output locks this process holds, by resolved directory. flock conflicts between two open()s
# of the same file even within one process, so nested takers must share the first one's fd.
_HELD: dict[Path, _HeldLock] = {}
_HELD_GUARD = threading.Lock()


def _command_line() -> list[str]:
    """This process's command line as a user typed it (``sertool ...``, not ``.../__main__.py``)."""
    argv = list(sys.argv) or ["python"]
    prog = Path(argv[0])
    if prog.name == "__main__.py":
        argv[0] = "sertool" if prog.parent.name == "sertool" else f"python -m {prog.parent.name}"
    elif prog.name == "sertool":
        argv[0] = "sertool"
    return argv


def _default_stage() -> str:
    """The sub-command when run as ``sertool <stage> ...``; else the program's name."""
    argv = _command_line()
    return argv[1] if argv[0] == "sertool" and len(argv) > 1 else Path(argv[0]).name


def _describe_holder(lock_path: Path) -> str:
    """Who holds ``lock_path``, from the JSON its holder wrote, for the refusal message."""
    # the holder writes its JSON right after flock returns: a reader can land in between
    for _ in range(10):
        try:
            info = json.loads(lock_path.read_text(encoding="utf-8"))
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
            return f"pid {int(info['pid'])} ({info['stage']} stage, started {started}: {info['command']})"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.02)
    return "an unidentified process"


def holds_output_lock(out_dir: str | Path) -> bool:
    """Whether this process holds :func:`output_lock` on ``out_dir``."""
    held = _HELD.get(Path(out_dir).resolve())
    return held is not None and held.owner == os.getpid()


def acquire_output_lock(out_dir: str | Path, stage: str | None = None) -> Path:
    """Take the output lock of ``out_dir`` (created if missing); return the key for :func:`release_output_lock`.

    Prefer :func:`output_lock`, which pairs the two calls. Raises :class:`OutputBusyError`
    when another live process holds it.
    """
    out_dir = require_writable_dir(out_dir)  # a one-line error for an output under a file, read-only, on /proc
    key = out_dir.resolve()
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is not None and held.owner == os.getpid():
            held.depth += 1
            return key
        lock_path = key / LOCK_NAME
        while True:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputBusyError(f"{out_dir} is being written by another process: "
                                      f"{_describe_holder(lock_path)}; wait for it to finish or stop it") from None
            except BaseException:
                os.close(fd)
                raise
            # A releasing holder unlinks the file before unlocking it: if that happened between
            # our open and flock, we locked a file nobody else will open. Retry on the current one.
            try:
                current = os.stat(lock_path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)
        # A lock file left by a killed holder is simply overwritten: the kernel dropped its flock.
        info = {"pid": os.getpid(), "stage": stage or _default_stage(), "started": time.time(),
                "command": shlex.join(_command_line()).replace("\n", " ")}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
        _HELD[key] = _HeldLock(fd, 1, os.getpid())
        return key


def release_output_lock(key: Path) -> None:
    """Undo one :func:`acquire_output_lock`; the last release removes the lock file and unlocks."""
    with _HELD_GUARD:
        held = _HELD.get(key)
        if held is None or held.owner != os.getpid():
            return  # a forked child must not unlock its parent's lock (the flock is shared)
        held.depth -= 1
        if held.depth:
            return
        del _HELD[key]
        # unlink before unlocking, so that whoever locks the old file next sees it is gone (above)
        (key / LOCK_NAME).unlink(missing_ok=True)
        fcntl.flock(held.fd, fcntl.LOCK_UN)  # forked workers share the descriptor: unlock for them too
        os.close(held.fd)


@contextlib.contextmanager
def output_lock(out_dir: str | Path, stage: str | None = None) -> Iterator[Path]:
    """Hold ``out_dir``'s output lock for a block: one writing process per output directory.

    ``out_dir`` is created if missing. While another live process holds the lock this raises
    :class:`OutputBusyError` (a :class:`~sertool.errors.SertoolError`: one line, exit 1) naming
    its pid, stage, start time and command line. The lock is ``fcntl.flock`` on
    ``out_dir/.lock``, a hidden file holding that JSON: the kernel drops it when its holder
    dies, even by SIGKILL, so a lock left behind by a killed run is taken over silently, with
    no guessing from pids. The file is removed on release (normal exit or exception).

    Nesting in one process is allowed and counted (only the outermost release unlocks);
    forked workers inherit the lock and keep it held while they live. ``stage`` defaults to
    the ``sertool`` sub-command being run. Yields the lock file's path.

    Stages take it around everything that deletes or writes their output, before checking
    their :class:`StageMarker`; the ``train`` stage, for instance, would do::

        with output_lock(exp_dir, "train"):
            marker = StageMarker(exp_dir, settings, inputs)
            if marker.is_done() and not force:
                return
            marker.clear()
            ...  # train every fold
            marker.mark_done(folds=results)
    """
    key = acquire_output_lock(out_dir, stage)
    try:
        yield key / LOCK_NAME
    finally:
        release_output_lock(key)


class StageMarker:
    """The ``.done`` marker of one stage's output directory.

    :meth:`clear` marks the start of the work: unless this process already holds
    :func:`output_lock` on the directory, it takes it there and holds it until
    :meth:`mark_done` (or until the marker is dropped, or the process ends), so stages that
    only use a marker get one writer per output directory too.
    """

    def __init__(self, out_dir: str | Path, settings: Any, inputs: Iterable[str | Path] = (), name: str = DONE_NAME,
                 stage: str | None = None):
        self._lock: Path | None = None  # the output lock this marker took itself, if any
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / name
        self.digest = settings_digest(settings, list(inputs))
        self.stage = stage

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # also runs at interpreter shutdown
            self.release()

    def release(self) -> None:
        """Release the output lock :meth:`clear` took, if it took one (idempotent)."""
        if self._lock is not None:
            key, self._lock = self._lock, None
            release_output_lock(key)

    def is_done(self) -> bool:
        """True when the stage finished before with the same inputs and settings."""
        try:
            return json.loads(self.path.read_text())["digest"] == self.digest
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def clear(self) -> None:
        """Forget a previous completion (called before the work starts); takes the output lock.

        Raises :class:`OutputBusyError` when another live process is writing the directory.
        """
        if self._lock is None and not holds_output_lock(self.out_dir):
            self._lock = acquire_output_lock(self.out_dir, self.stage)
        self.path.unlink(missing_ok=True)

    def mark_done(self, **summary: Any) -> None:
        """Record completion; ``summary`` is stored beside the digest for humans. Releases the lock."""
        atomic_write_text(self.path, json.dumps({"digest": self.digest, **summary}, indent=1))
        self.release()


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
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with atomic_path(Path(d) / "feats-00000.h5") as tmp:
        ...         _ = tmp.write_bytes(b"shard")
        ...         during = [p.name.startswith(".feats-00000.h5.") for p in Path(d).iterdir()]
        ...     after = [p.name for p in Path(d).iterdir()]
        >>> during, after                  # a hidden temporary file while writing, the real name after
        ([True], ['feats-00000.h5'])
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
    # an output lock (present while a stage writes, or left by a killed one) is not content
    files = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file() and p.name != LOCK_NAME})
    for p in files:
        st = p.stat()
        h.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()
