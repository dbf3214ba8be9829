"""Processes of the features stage: one run per output directory; workers die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sertool  # noqa: E402
from sertool.cli.main import app  # noqa: E402
from sertool.features.pipeline import extract_features  # noqa: E402
from sertool.features.storage import FeatureReader  # noqa: E402
from sertool.stage import LOCK_NAME  # noqa: E402
from sertool.testing.audio import make_corpus  # noqa: E402
from sertool.testing.processes import alive, children, kill  # noqa: E402

# The CLI subprocesses run this checkout's sertool, whatever an installed copy points at.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in [str(Path(sertool.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")] if p)}


def slow_corpus(root: Path, num_utts: int) -> tuple[Path, Path]:
    """A manifest and a config whose shards take a while each (one utterance, harvest pitch)."""
    manifest = make_corpus(root / "data", num_utts=num_utts, speakers=2, seconds=(0.6, 0.8))
    conf = root / "conf.yaml"
    conf.write_text("shard_size: 1\npitch: {method: harvest}\n")
    return manifest, conf


def start_features(manifest: Path, out: Path, conf: Path, jobs: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "sertool", "features", str(manifest), str(out), "-e", "pitch",
           "--config", str(conf), "--jobs", str(jobs)]
    with open(out.parent / f"{out.name}.log", "w") as log:  # a file: a pipe nobody reads could fill up
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)


def wait_until(condition: Callable[[], object], proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, f"sertool features ended early ({proc.returncode}): {proc.args}"
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def shard_files(out: Path) -> list[Path]:
    """Finished shards, first-pass (``.stage/``) ones included."""
    return sorted(out.rglob("feats-*.h5"))


def snapshot(out: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``out`` (temporary ones included) with its size and mtime."""
    return {str(p.relative_to(out)): (p.stat().st_size, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


def test_second_run_into_a_directory_being_written_is_refused(tmp_path):
    manifest, conf = slow_corpus(tmp_path, num_utts=24)
    out = tmp_path / "feats"
    first = start_features(manifest, out, conf, jobs=1)
    try:
        wait_until(lambda: shard_files(out), first)
        before = set(shard_files(out))
        # --force would delete every shard of the first run if it got past the lock
        result = CliRunner().invoke(app, ["features", str(manifest), str(out), "-e", "pitch",
                                          "--config", str(conf), "--force"])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert f"is being written by another process: pid {first.pid} (features stage" in lines[0]
        assert "sertool features" in lines[0]
        assert first.poll() is None and before <= set(shard_files(out))
    finally:
        kill(first)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="walks /proc for the worker processes")
def test_killing_the_parent_stops_its_workers(tmp_path):
    manifest, conf = slow_corpus(tmp_path, num_utts=8)
    out = tmp_path / "feats"
    parent = start_features(manifest, out, conf, jobs=2)
    try:
        wait_until(lambda: shard_files(out), parent)
        workers = children(parent.pid)
    finally:
        kill(parent)  # SIGKILL: the parent cannot stop its workers itself
    assert len(workers) == 2

    try:
        deadline = time.time() + 5
        while any(alive(*w) for w in workers) and time.time() < deadline:
            time.sleep(0.05)
        assert not [pid for pid, start in workers if alive(pid, start)], "workers outlived their parent"
    finally:  # leave no orphan behind when the test fails
        for pid, start in workers:
            if alive(pid, start):
                os.kill(pid, signal.SIGKILL)
    written = snapshot(out)
    time.sleep(1)
    assert snapshot(out) == written, "shards were still written after the parent was killed"
    assert not (out / ".done").exists() and len(shard_files(out)) < 8  # killed midway

    # the rerun takes the killed run's lock over and completes
    extract_features([manifest], out, "pitch", config=conf, jobs=2)
    assert len(FeatureReader(out).ids()) == 8 and (out / ".done").is_file() and not (out / LOCK_NAME).exists()
