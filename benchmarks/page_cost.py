"""What fresh memory and new file pages cost on this machine: context for the features benchmark.

The features stage writes every matrix it computes (for 5 hours of audio, 0.6 GB of fbank or
1.1 GB of log-mel + Δ/ΔΔ); the bare loop of ``features_bench.py`` stores nothing. On a bare-metal
machine or an ordinary VM, writing a gigabyte into the page cache takes a few tenths of a second;
in a micro-VM whose freed memory goes back to the host (balloon free-page reporting, as in
Firecracker), every page touched again after a pause faults into the host first, and the same
writes cost several times more. This script measures both cases:

* touching 1 GB of anonymous memory right after freeing it, and again after ``--pause`` seconds;
* writing 1.2 GB of files (40 × 28 MiB, the size of 100 log-mel matrices) right after deleting the
  previous ones, after the pause, and after the pause with sertool's drop-behind
  (:class:`sertool.features.storage.DropBehind`, what the features stage does with its shards).

Usage:
    python benchmarks/page_cost.py --dir /path/on/the/features/disk [--pause 5]

Example output (a 2-vCPU Firecracker guest):
    touch 1 GB, just freed: 0.07 s (0.3 us per 4 KiB page)
    touch 1 GB, freed 5 s ago: 1.80 s (6.9 us per 4 KiB page)
    write 1.2 GB of new files, the previous ones just deleted: 0.26 s
    write 1.2 GB of new files, the previous ones deleted 5 s ago: 2.60 s
    write 1.2 GB of new files, the previous ones deleted 5 s ago, drop-behind: 0.71 s
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

GIB = 1 << 30
PAGE = 4096


def touch(nbytes: int) -> float:
    """Seconds to allocate and fill ``nbytes`` of fresh anonymous memory."""
    start = time.perf_counter()
    block = np.ones(nbytes // 4, np.float32)
    seconds = time.perf_counter() - start
    del block
    return seconds


def write_files(folder: Path, files: int, nbytes: int, drop_behind: bool = False) -> float:
    """Seconds to write ``files`` files of ``nbytes`` each into ``folder`` (page cache, no sync)."""
    from sertool.features.storage import DropBehind

    data = np.ones(nbytes // 4, np.float32)
    drop = DropBehind()
    start = time.perf_counter()
    for k in range(files):
        path = folder / f"part-{k:03d}"
        with open(path, "wb") as f:
            f.write(data)
        if drop_behind:
            drop.finished(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to write the test files (default: a temp dir)")
    parser.add_argument("--pause", type=float, default=5.0, help="seconds to wait before the 'after a pause' runs")
    args = parser.parse_args()

    touch(GIB)  # the first touch of this process's pages, whatever their history
    for label, pause in (("just freed", 0.0), (f"freed {args.pause:g} s ago", args.pause)):
        time.sleep(pause)
        seconds = touch(GIB)
        print(f"touch 1 GB, {label}: {seconds:.2f} s ({seconds / (GIB / PAGE) * 1e6:.1f} us per 4 KiB page)")

    files, size = 40, 28 << 20
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="page-cost-") as tmp:
        folder = Path(tmp)
        write_files(folder, files, size)
        for label, pause, drop in (("just deleted", 0.0, False), (f"deleted {args.pause:g} s ago", args.pause, False),
                                   (f"deleted {args.pause:g} s ago, drop-behind", args.pause, True)):
            shutil.rmtree(folder)
            folder.mkdir()
            time.sleep(pause)
            seconds = write_files(folder, files, size, drop)
            print(f"write {files * size / 1e9:.1f} GB of new files, the previous ones {label}: {seconds:.2f} s")


if __name__ == "__main__":
    main()
