"""Processes seen through ``/proc`` (Linux): a process's children, whether one still runs, a hard kill.

Tests of "no process outlives its parent" start a stage, find its workers, SIGKILL the stage and
check that the workers are gone.

Example::

    workers = children(parent.pid)
    kill(parent)
    assert not [pid for pid, start in workers if alive(pid, start)]
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` (if still running) and reap it: it gets no chance to stop anything itself."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, ...), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def children(ppid: int) -> list[tuple[int, str]]:
    """(pid, start time) of the processes whose parent is ``ppid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) and int(stat[1]) == ppid:
            found.append((int(entry.name), stat[19]))
    return found


def alive(pid: int, start_time: str) -> bool:
    """Running (not a zombie, not a later process that reused the pid)."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in "ZX" and stat[19] == start_time
