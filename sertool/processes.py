"""Worker processes: they die with the process that started them, and use one thread each.

Every stage with ``--jobs N`` (features shards, corpus synthesis, header scans, training folds)
starts its workers through these, so a killed stage leaves no process behind (the developers'
rule: no process outlives its parent) and N workers use N cores, not N × the cores.

Example::

    pool = ProcessPoolExecutor(initializer=die_with_parent, initargs=(os.getpid(),))
    with one_thread():
        ...  # torch and BLAS compute on one core here
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run a block with one torch intra-op thread and one BLAS/OpenMP thread, restoring after.

    ``--jobs N`` means N cores: N workers each with several torch or OpenBLAS threads would
    oversubscribe them (OpenBLAS threads spin while waiting, which hurts most).
    """
    import torch
    from threadpoolctl import threadpool_limits  # installed with librosa (via scikit-learn)

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)



# <linux/prctl.h>: deliver a signal to this process when its parent dies
PR_SET_PDEATHSIG = 1
# how often the fallback watchdog (non-Linux) checks the parent
PARENT_POLL_SECONDS = 0.5


def _watch_parent(parent_pid: int) -> None:
    """Exit the process as soon as it is reparented (its parent died); runs in a daemon thread."""
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Make this process die when ``parent_pid``, its parent, does, however that one ends.

    A killed stage must not leave workers behind: an orphan would go on writing into a
    directory whose output lock its parent no longer holds (the workers even keep that lock
    held, through the descriptor they inherited). A parent
    killed by SIGKILL cannot stop them itself, so on Linux the kernel sends SIGKILL to the
    worker (``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread polls ``os.getppid()``.

    Example::

        ProcessPoolExecutor(initializer=die_with_parent, initargs=(os.getpid(),))
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ok = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            ok = False
        if ok:
            # The parent may have died before prctl ran: then nothing will signal us.
            # Note the "parent" is the forking thread: pools must fork from a thread that
            # outlives them (the one that made the pool).
            if os.getppid() != parent_pid:
                os._exit(1)
            return
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True).start()
