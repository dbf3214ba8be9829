"""Stage markers skip finished work; atomic writes never leave a complete-looking partial file."""

from pathlib import Path

import pytest

from sertool.stage import StageMarker, atomic_path, atomic_write_text


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
