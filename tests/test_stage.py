"""Stage markers skip finished work; atomic writes never leave a complete-looking partial file;
one process at a time writes an output directory."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import sertool
from sertool.stage import (
    LOCK_NAME,
    OutputBusyError,
    StageMarker,
    atomic_path,
    atomic_write_text,
    holds_output_lock,
    output_lock,
    tree_fingerprint,
)


def test_marker_matches_only_same_settings_and_inputs(tmp_path: Path):
    inp = tmp_path / "in.txt"
    inp.write_text("a")
    m = StageMarker(tmp_path / "out", {"x": 1}, [inp])
    assert not m.is_done()
    m.mark_done()
    assert StageMarker(tmp_path / "out", {"x": 1}, [inp]).is_done()
    assert not StageMarker(tmp_path / "out", {"x": 2}, [inp]).is_done()
    inp.write_text("b")
    assert not StageMarker(tmp_path / "out", {"x": 1}, [inp]).is_done()


def test_failed_write_leaves_nothing(tmp_path: Path):
    target = tmp_path / "f.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    atomic_write_text(target, "done")
    assert target.read_text() == "done"


# --- output locks ---------------------------------------------------------------------------

# Run subprocesses on this checkout's sertool, whatever an installed copy points at.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in [str(Path(sertool.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")] if p)}

HOLD = """
import sys, time
from sertool.stage import output_lock
with output_lock(sys.argv[1], "features"):
    print("locked", flush=True)
    time.sleep(60)
"""

TRY = """
import sys
from sertool.errors import SertoolError
from sertool.stage import output_lock
try:
    with output_lock(sys.argv[1], "prep"):
        print("acquired")
except SertoolError as e:
    print(e)
    sys.exit(1)
"""


def hold_lock(out: Path) -> subprocess.Popen:
    """A process holding ``out``'s output lock (it says so on stdout once it does)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def stop(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def lock_from_other_process(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TRY, str(out)], capture_output=True, text=True, env=ENV, timeout=60)


def test_live_holder_is_refused_naming_its_pid(tmp_path: Path):
    out = tmp_path / "out"
    holder = hold_lock(out)
    try:
        with pytest.raises(OutputBusyError) as busy:
            with output_lock(out, "prep"):
                pass
        message = str(busy.value)
        assert f"pid {holder.pid} (features stage" in message and "\n" not in message
        # the prep stage only calls StageMarker: clearing its marker is refused too
        with pytest.raises(OutputBusyError, match=f"pid {holder.pid} "):
            StageMarker(out, {"x": 1}).clear()
        assert holder.poll() is None
    finally:
        stop(holder)


def test_stale_lock_of_killed_holder_is_taken_over(tmp_path: Path):
    out = tmp_path / "out"
    holder = hold_lock(out)
    stop(holder)  # SIGKILL: no chance to clean up, the lock file stays
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == holder.pid
    with output_lock(out, "features") as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not (out / LOCK_NAME).exists()


def test_lock_is_released_on_normal_exit_and_on_exception(tmp_path: Path):
    out = tmp_path / "out"
    with output_lock(out, "features"):
        with output_lock(out, "features"):  # nesting in one process is counted, not refused
            pass
        assert holds_output_lock(out)
        refused = lock_from_other_process(out)
        assert refused.returncode == 1 and f"pid {os.getpid()} (features stage" in refused.stdout
    assert not holds_output_lock(out) and not (out / LOCK_NAME).exists()
    assert lock_from_other_process(out).stdout.strip() == "acquired"

    with pytest.raises(RuntimeError):
        with output_lock(out, "features"):
            raise RuntimeError("stage failed")
    assert not holds_output_lock(out) and list(out.iterdir()) == []
    assert lock_from_other_process(out).stdout.strip() == "acquired"


def test_marker_holds_the_lock_from_clear_to_mark_done(tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "data.txt").write_text("a")
    fingerprint = tree_fingerprint(out)
    marker = StageMarker(out, {"x": 1}, stage="prep")
    marker.clear()
    assert holds_output_lock(out) and (out / LOCK_NAME).is_file()
    assert tree_fingerprint(out) == fingerprint  # an inputs fingerprint does not see the lock file
    assert "(prep stage" in lock_from_other_process(out).stdout
    marker.mark_done(kept=1)
    assert not holds_output_lock(out) and sorted(p.name for p in out.iterdir()) == [".done", "data.txt"]
    (out / LOCK_NAME).write_text('{"pid": 1}')  # as a killed stage leaves it
    assert StageMarker(out, {"x": 1}).is_done()

    # inside an explicit output_lock, the marker neither takes nor releases it
    with output_lock(out, "train"):
        inner = StageMarker(out, {"x": 2})
        inner.clear()
        inner.mark_done()
        assert holds_output_lock(out)
    assert not holds_output_lock(out) and not (out / LOCK_NAME).exists()
