"""Stand-in corpora: each one generated at its tiny size and read back by the unchanged ``sertool prep``.

Every corpus is generated once per test session (a fixture shared by its tests) through the CLI a
recipe uses, then prepared with the corpus's default protocol.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from sertool.cli.testing import invoke, run_cli
from sertool.corpora.registry import CORPORA
from sertool.corpora.standin import MARKER, WRITERS, Build, Writer, generate_standin, read_marker
from sertool.data.labels import get_label_set
from sertool.errors import SertoolError
from sertool.testing.corpora import check_folds, load_outputs
from sertool.train.config import SourceConfig
from sertool.train.sources import filter_utterances


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
    helped = run_cli("stand-in", "--help")
    assert all(name in helped.output for name in WRITERS.names())
    fixed = run_cli("stand-in", "iemocap", tmp_path / "y", "--speakers", 3)
    assert fixed.exit_code == 1 and "fixed by the corpus" in fixed.output


def test_every_corpus_on_disk_has_a_stand_in():
    on_disk = {name for name in CORPORA.names() if not CORPORA.get(name).generated}
    assert set(WRITERS.names()) == on_disk


def test_killed_run_leaves_no_tree(tmp_path, monkeypatch):
    def half_written(build: Build) -> None:
        build.write_text("Session1/dialog/EmoEvaluation/x.txt", "half")
        raise KeyboardInterrupt  # a run stopped mid-way

    monkeypatch.setitem(WRITERS._items, "broken", Writer(half_written, per_speaker=1))
    with pytest.raises(KeyboardInterrupt):
        generate_standin("broken", tmp_path / "tree")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SertoolError, match="per-speaker must be 1–"):
        generate_standin("broken", tmp_path / "tree", per_speaker=0)
    assert read_marker(tmp_path / "tree") is None


def test_esd(standin):
    tree = standin("esd", "Emotion Speech Dataset", "--per-speaker", 1)
    utts, protocol, folds, summary = prep(tree, "esd")
    assert len(utts) == 100 and summary["skipped"] == {} and summary["warnings"] == []  # every transcript decoded
    assert summary["classes"] == dict.fromkeys(("angry", "happy", "neutral", "sad", "surprise"), 20)
    assert len(summary["speakers"]) == 20
    zh = [u for u in utts.values() if u.language == "zh"]
    assert {u.speaker for u in zh} == {f"esd/{i:04d}" for i in range(1, 11)}
    assert all(any("\u4e00" <= c <= "\u9fff" for c in u.text) and u.phones for u in zh)
    assert all(u.text.isascii() and u.phones for u in utts.values() if u.language == "en")
    assert {u.emotion_raw for u in zh if u.emotion == "surprise"} == {"惊喜"}
    assert {u.split for u in utts.values()} == {"train", "dev", "test"}
    genders = {u.speaker: u.gender for u in utts.values()}
    assert (genders["esd/0004"], genders["esd/0001"], genders["esd/0020"]) == ("M", "F", "M")
    # Parallel: the same number in two emotion blocks is the same sentence.
    by_number = {(u.speaker, int(u.id[-6:]) % 350): u.text for u in utts.values()}
    assert all(by_number[(u.speaker, int(u.id[-6:]) % 350)] == u.text for u in utts.values())
    assert len({(u.speaker, int(u.id[-6:]) % 350) for u in utts.values()}) < len(utts)
    # The encodings the release mixes are all there.
    raw = {spk: (tree / spk / f"{spk}.txt").read_bytes() for spk in ("0001", "0002", "0004", "0012")}
    assert raw["0002"].startswith(b"\xff\xfe") and raw["0012"].startswith(b"\xff\xfe")  # UTF-16
    raw["0001"].decode("gb2312")
    for whole_file in ("utf-8", "gb18030"):  # 0004 mixes GB2312 and UTF-8 lines
        with pytest.raises(UnicodeDecodeError):
            raw["0004"].decode(whole_file)
    assert protocol == "speaker-kfold" and len(folds) == 5
    check_folds(utts, folds, speaker_independent=True)
    # SpeechEQ's ESD: the Mandarin part without Surprise, as a recipe's corpus filters select it.
    speecheq = filter_utterances(list(utts.values()), SourceConfig(languages=["zh"],
                                                                   emotions=["neutral", "happy", "angry", "sad"]))
    assert len(speecheq) == 40 and {u.speaker for u in speecheq} == {f"esd/{i:04d}" for i in range(1, 11)}


def test_casia(standin):
    tree = standin("casia", "CASIA", "--per-speaker", 1)
    utts, protocol, folds, summary = prep(tree, "casia")
    assert len(utts) == 24 and summary["skipped"] == {}
    assert summary["classes"] == dict.fromkeys(("angry", "fear", "happy", "neutral", "sad", "surprise"), 4)
    assert {u.gender for u in utts.values()} == {"F", "M"} and all(u.text is None for u in utts.values())
    assert (tree / "wangzhe" / "fear" / "201.wav").is_file()
    assert protocol == "leave-one-speaker-out" and len(folds) == 4
    check_folds(utts, folds, speaker_independent=True)


def test_ravdess(standin):
    tree = standin("ravdess", "Audio_Speech_Actors_01-24", "--speakers", 5)
    utts, protocol, folds, summary = prep(tree, "ravdess")
    assert len(utts) == 40 and summary["skipped"] == {}
    assert set(summary["classes"]) == {"neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise"}
    assert all(u.sample_rate == 48000 and u.text and u.phones for u in utts.values())
    assert {u.intensity for u in utts.values() if u.emotion != "neutral"} == {"normal", "strong"}
    assert {u.gender for u in utts.values() if u.speaker == "ravdess/Actor_03"} == {"M"}
    assert protocol == "speaker-kfold" and len(folds) == 5
    check_folds(utts, folds, speaker_independent=True)


def test_crema_d(standin):
    tree = standin("crema-d", "CREMA-D", "--speakers", 5)
    utts, protocol, folds, summary = prep(tree, "crema-d")
    # 5 actors × 6 emotions, the release's silent file skipped
    assert len(utts) == 29 and summary["skipped"] == {"no signal": 1}
    assert {u.intensity for u in utts.values() if "_IEO_" in u.id} == {"low", "medium", "high"}
    assert all(u.intensity is None for u in utts.values() if "_IEO_" not in u.id)
    assert {utts["crema-d/1001_IEO_ANG_LO"].gender, utts["crema-d/1002_IEO_ANG_MD"].gender} == {"M", "F"}
    assert utts["crema-d/1001_IEO_ANG_LO"].text == "It's eleven o'clock"
    check_folds(utts, folds, speaker_independent=True)


def test_librispeech(standin):
    tree = standin("librispeech", "LibriSpeech")
    utts, protocol, folds, summary = prep(tree, "librispeech")
    assert len(utts) == 18 and summary["skipped"] == {} and summary["oov_words"] == 0
    assert Counter(u.split for u in utts.values()) == {"train": 12, "dev": 3, "test": 3}
    assert all(u.audio.endswith(".flac") and u.text.isupper() and u.phones and u.gender for u in utts.values())
    check_folds(utts, folds, speaker_independent=True)
    _, protocol, folds, _ = prep(tree, "librispeech", "--protocol", "corpus-split")
    assert protocol == "corpus-split"


def test_aishell(standin):
    tree = standin("aishell", "aishell")
    utts, protocol, folds, summary = prep(tree, "aishell")
    assert len(utts) == 18 and summary["skipped"] == {"transcript without audio": 1}
    assert {u.speaker for u in utts.values() if u.split == "dev"} == {"aishell/S0724"}
    assert all(u.language == "zh" and " " in u.text and u.phones and u.gender for u in utts.values())
    check_folds(utts, folds, speaker_independent=True)


def test_folder_seqd(standin):
    tree = standin("folder", "seqd", "--speakers", 3)
    utts, protocol, folds, summary = prep(tree, "folder", "--name", "seqd")
    assert len(utts) == 75 and summary["skipped"] == {}
    assert Counter(u.esc for u in utts.values()) == {"neutral": 3, **dict.fromkeys(
        ("trust", "joy", "anticipation", "anger", "disgust", "sadness", "surprise", "fear"), 9)}
    assert {u.intensity for u in utts.values() if u.esc != "neutral"} == {"low", "medium", "high"}
    assert all(u.language == "zh" and u.phones for u in utts.values())
    assert {u.split for u in utts.values()} == {"train", "test"}
    check_folds(utts, folds, speaker_independent=True)


def test_folder_calls(standin):
    tree = standin("folder", "calls", "--like", "calls", "--speakers", 5)
    utts, protocol, folds, summary = prep(tree, "folder", "--name", "calls", "--style", "spontaneous",
                                          "--protocol", "stratified-kfold")
    assert len(utts) == 35 and summary["classes"] == {"angry": 5, "disgust": 5, "happy": 5, "neutral": 15, "sad": 5}
    assert {u.speaker for u in utts.values()} == {"calls/unknown"}
    assert {u.style for u in utts.values()} == {"spontaneous"}
    assert protocol == "stratified-kfold" and len(folds) == 5
    check_folds(utts, folds, speaker_independent=False)


def test_same_seed_same_tree(tmp_path):
    (tmp_path / "j2").mkdir()  # an empty directory is taken
    # The temporary tree of a run that was killed (its process gone) is cleaned up by the next run.
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / f".j1.stand-in-{dead.pid}-abc" / "Session1").mkdir(parents=True)
    options = {"seed": 3, "per_speaker": 1, "speakers": 3}
    trees = [generate_standin("aishell", tmp_path / f"j{jobs}", jobs=jobs, **options).out_dir for jobs in (1, 2)]
    files = [sorted(p.relative_to(t) for p in t.rglob("*") if p.is_file()) for t in trees]
    assert files[0] == files[1] and len(files[0]) == 6  # 3 wavs, transcript, speaker.info, marker
    assert all((trees[0] / f).read_bytes() == (trees[1] / f).read_bytes() for f in files[0])

    wav = next(trees[0].rglob("*.wav"))
    assert not generate_standin("aishell", trees[0], **options).created
    assert generate_standin("aishell", trees[0], force=True, **options).created
    assert wav.read_bytes() == (trees[1] / wav.relative_to(trees[0])).read_bytes()
    # Other settings rebuild the tree: another seed, other voices.
    assert generate_standin("aishell", trees[0], **{**options, "seed": 4}).created
    assert read_marker(trees[0])["seed"] == 4
    assert wav.read_bytes() != (trees[1] / wav.relative_to(trees[0])).read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["j1", "j2"]  # no temporary tree left
