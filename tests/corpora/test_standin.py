"""Stand-in corpora: each one generated at its tiny size and read back by the unchanged ``sertool prep``.

Every corpus is generated once per test session (a fixture shared by its tests) through the CLI a
recipe uses, then prepared with the corpus's default protocol.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sertool.cli.testing import invoke, run_cli
from sertool.corpora.standin import MARKER, WRITERS, Build, Writer, generate_standin, read_marker
from sertool.data.labels import get_label_set
from sertool.errors import SertoolError
from sertool.testing.corpora import check_folds, load_outputs


@pytest.fixture(scope="session")
def standin(tmp_path_factory) -> Callable[..., Path]:
    """``standin(corpus, dirname, *options)``: the stand-in tree made by ``sertool stand-in`` (once)."""
    made: dict[tuple, Path] = {}
    root = tmp_path_factory.mktemp("standin")

    def make(corpus: str, dirname: str, *options: object) -> Path:
        key = (corpus, dirname, *options)
        if key not in made:
            tree = root / f"{corpus}{len(made)}" / dirname
            invoke("stand-in", corpus, tree, "--jobs", 2, *options)
            made[key] = tree
        return made[key]

    return make


def prep(tree: Path, corpus: str, *options: object) -> tuple:
    """Run ``sertool prep CORPUS TREE OUT`` and read back manifest, protocol, folds and summary."""
    out = tree.parent / f"prep-{corpus}-{len(options)}"
    invoke("prep", corpus, tree, out, *options)
    return load_outputs(out)


def test_iemocap(standin):
    tree = standin("iemocap", "IEMOCAP_full_release")
    assert sorted(p.name for p in tree.iterdir()) == [MARKER, "Session1", "Session2", "Session3", "Session4",
                                                       "Session5"]
    utts, protocol, folds, summary = prep(tree, "iemocap")
    # 10 actors × one utterance of each of the 11 label codes
    assert len(utts) == 110 and summary["skipped"] == {}
    assert summary["speakers"] == {f"iemocap/Ses0{s}{g}": 11 for s in range(1, 6) for g in "FM"}
    raw = Counter(u.emotion_raw for u in utts.values())
    assert raw == dict.fromkeys(("neu", "hap", "exc", "ang", "sad", "fru", "sur", "fea", "dis", "oth", "xxx"), 10)
    four = get_label_set("iemocap4")
    kept = Counter(four.label_of(u.emotion) for u in utts.values() if four.label_of(u.emotion) is not None)
    assert sum(kept.values()) == 50 and kept[four.label_of("happy")] == 20  # exc merged into hap
    assert all(u.emotion is None for u in utts.values() if u.emotion_raw == "xxx")
    assert all(u.vad and 1 <= min(u.vad) and max(u.vad) <= 5 for u in utts.values())
    assert all(u.text and u.phones and u.sample_rate == 16000 for u in utts.values())
    assert {u.gender for u in utts.values() if u.speaker.endswith("F")} == {"F"}
    assert protocol == "leave-one-session-out" and [f.name for f in folds] == [f"Ses0{s}" for s in range(1, 6)]
    check_folds(utts, folds, speaker_independent=True)
    # The transcript is what is spoken, and the label and transcript files agree on times.
    u = utts["iemocap/Ses02M_script01_1_M000"]
    line = next(x for x in (tree / "Session2/dialog/transcriptions/Ses02M_script01_1.txt").read_text().splitlines()
                if x.startswith("Ses02M_script01_1_M000 "))
    assert line.endswith(f": {u.text}")
    assert (tree / "Session2/dialog/wav/Ses02M_script01_1.wav").is_file()


def test_rerun_force_and_refusals(standin, tmp_path):
    tree = standin("iemocap", "IEMOCAP_full_release")
    stamp = (tree / MARKER).stat().st_mtime_ns
    again = run_cli("stand-in", "iemocap", tree)
    assert again.exit_code == 0 and "up to date" in again.output
    assert (tree / MARKER).stat().st_mtime_ns == stamp

    # Not a stand-in tree: refused, untouched.
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("x")
    refused = run_cli("stand-in", "iemocap", tmp_path / "mine")
    assert refused.exit_code == 1 and "is not a stand-in tree" in refused.output
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["keep.txt"]

    unknown = run_cli("stand-in", "timit", tmp_path / "x")
    assert unknown.exit_code == 1 and "unknown stand-in corpus 'timit'" in unknown.output
    assert "iemocap" in unknown.output and not (tmp_path / "x").exists()
    fixed = run_cli("stand-in", "iemocap", tmp_path / "y", "--speakers", 3)
    assert fixed.exit_code == 1 and "fixed by the corpus" in fixed.output


def test_killed_run_leaves_no_tree(tmp_path, monkeypatch):
    def half_written(build: Build) -> None:
        build.write_text("Session1/dialog/EmoEvaluation/x.txt", "half")
        raise KeyboardInterrupt  # a run stopped mid-way

    monkeypatch.setitem(WRITERS._items, "broken", Writer(half_written, per_speaker=1))
    with pytest.raises(KeyboardInterrupt):
        generate_standin("broken", tmp_path / "tree")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SertoolError, match="per-speaker must be at least 1"):
        generate_standin("broken", tmp_path / "tree", per_speaker=0)
    assert read_marker(tmp_path / "tree") is None
