"""The prep stage in the library: marker, skip, force, fingerprint, download, a new corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sertool.corpora.common import PrepReport
from sertool.corpora.prepare import MAX_LISTED_SPEAKERS, prepare_corpus, print_report, split_list
from sertool.corpora.ravdess import prepare_ravdess
from sertool.corpora.registry import CORPORA, CorpusSpec
from sertool.errors import SertoolError

# The contract of a corpus module (see sertool.corpora.registry): this test module is one.
PROTOCOLS = ("speaker-kfold", "stratified-kfold")
LAYOUT = "a toy corpus holding Actor_NN/*.wav"
FINGERPRINT = ("*.wav",)
CALLS: list[dict] = []


def prepare_toy(corpus_dir: Path, out_dir: Path, protocol: str = "speaker-kfold", k: int = 5, seed: int = 0,
                repeats: int = 1, jobs: int = 1) -> PrepReport:
    """A new corpus: RAVDESS file names under another name."""
    CALLS.append({"corpus_dir": corpus_dir, "protocol": protocol, "k": k, "seed": seed, "jobs": jobs})
    return prepare_ravdess(corpus_dir, out_dir, k=k, seed=seed, repeats=repeats, jobs=jobs)


def build(root: Path, write_wav, actors=range(1, 5)) -> Path:
    for actor in actors:
        for emo, level in (("01", "01"), ("05", "02"), ("03", "02")):
            write_wav(root / f"Actor_{actor:02d}" / f"03-01-{emo}-{level}-01-01-{actor:02d}.wav", 16000)
    return root


@pytest.fixture
def toy(monkeypatch):
    """``toy`` registered for the test only."""
    monkeypatch.setattr(CORPORA, "_items", dict(CORPORA._items))
    CALLS.clear()
    CORPORA.add("toy", CorpusSpec("toy", prepare_toy, "stratified-kfold", 2))
    assert sys.modules[__name__].PROTOCOLS == PROTOCOLS
    return "toy"


def test_split_list():
    assert split_list("en, zh,,") == ["en", "zh"] and split_list("") == []


def test_a_new_corpus_needs_one_registration(toy, tmp_path, write_wav, capsys):
    corpus = build(tmp_path / "toy", write_wav)
    report = prepare_corpus(toy, corpus, tmp_path / "out", jobs=2)
    assert report.kept == 12 and (tmp_path / "out/.done").is_file()
    # The spec's defaults fill in what the caller leaves out.
    assert CALLS == [{"corpus_dir": corpus.resolve(), "protocol": "stratified-kfold", "k": 2, "seed": 0, "jobs": 2}]
    assert "kept 12 utterances" in capsys.readouterr().err

    with pytest.raises(SertoolError, match="protocol 'leave-one-session-out' does not apply to toy"):
        prepare_corpus(toy, corpus, tmp_path / "out", protocol="leave-one-session-out")
    with pytest.raises(SertoolError, match=r"corpus directory not found: .*missing \(expected a toy corpus"):
        prepare_corpus(toy, tmp_path / "missing", tmp_path / "out")
    with pytest.raises(SertoolError, match="needs its corpus directory"):
        prepare_corpus(toy, None, tmp_path / "out")
    with pytest.raises(SertoolError, match="no download for 'toy'"):
        prepare_corpus(toy, corpus, tmp_path / "out", download=True)
    assert len(CALLS) == 1


def test_a_corpus_in_its_own_file(tmp_path, write_wav, monkeypatch, capsys):
    """``path/file.py:SPEC`` names a corpus defined outside sertool; the marker records its own name."""
    monkeypatch.setattr(CORPORA, "_items", dict(CORPORA._items))
    plugin = tmp_path / "mycorpus.py"
    plugin.write_text(
        "from sertool.corpora.ravdess import prepare_ravdess\n"
        "from sertool.corpora.registry import CorpusSpec\n"
        "PROTOCOLS = ('speaker-kfold',)\n"
        "LAYOUT = 'Actor_NN folders'\n"
        "FINGERPRINT = ('*.wav',)\n"
        "def prepare_mine(corpus_dir, out_dir, **options):\n"
        "    return prepare_ravdess(corpus_dir, out_dir, **options)\n"
        "SPEC = CorpusSpec('mine', prepare_mine, 'speaker-kfold', 2)\n"
    )
    corpus = build(tmp_path / "mine", write_wav)
    report = prepare_corpus(f"{plugin}:SPEC", corpus, tmp_path / "out")
    assert report.kept == 12 and len(report.folds) == 2
    with pytest.raises(SertoolError, match="does not apply to mine"):
        prepare_corpus(f"{plugin}:SPEC", corpus, tmp_path / "out", protocol="stratified-kfold")


def test_skip_force_and_fingerprint(tmp_path, write_wav, capsys):
    corpus = build(tmp_path / "Audio_Speech_Actors_01-24", write_wav)
    out = tmp_path / "out"
    first = prepare_corpus("ravdess", corpus, out, k=2)
    capsys.readouterr()

    again = prepare_corpus("ravdess", corpus, out, k=2)
    assert again == first and f"prep: {out} is up to date (use --force to redo)" in capsys.readouterr().err
    forced = prepare_corpus("ravdess", corpus, out, k=2, force=True)
    assert forced.kept == first.kept and "up to date" not in capsys.readouterr().err
    # Other settings, or a file added to the corpus, redo the stage.
    prepare_corpus("ravdess", corpus, out, k=3)
    assert "up to date" not in capsys.readouterr().err
    build(corpus, write_wav, actors=[5])
    assert prepare_corpus("ravdess", corpus, out, k=3).kept == first.kept + 3
    assert "up to date" not in capsys.readouterr().err
    # A file the preparer does not read changes nothing.
    (corpus / "README.txt").write_text("notes")
    prepare_corpus("ravdess", corpus, out, k=3)
    assert "up to date" in capsys.readouterr().err


def test_folder_label_csv_outside_the_corpus(tmp_path, write_wav, capsys):
    corpus = tmp_path / "calls"
    for i, _spk in enumerate(("a", "a", "b", "b", "c", "c")):
        write_wav(corpus / f"{i}.wav")
    labels = tmp_path / "labels.csv"
    labels.write_text("path,emotion,speaker\n" + "".join(f"{i}.wav,{e},{s}\n" for i, (e, s) in enumerate(
        zip(("angry", "sad") * 3, ("a", "a", "b", "b", "c", "c")))))
    out = tmp_path / "out"
    report = prepare_corpus("folder", corpus, out, csv_path=labels, name="calls", k=3)
    assert report.kept == 6
    prepare_corpus("folder", corpus, out, csv_path=labels, name="calls", k=3)
    assert "up to date" in capsys.readouterr().err
    labels.write_text(labels.read_text().replace("0.wav,angry", "0.wav,happy"))  # same corpus, new labels
    assert prepare_corpus("folder", corpus, out, csv_path=labels, name="calls", k=3).classes["happy"] == 1
    with pytest.raises(SertoolError, match="label CSV not found"):
        prepare_corpus("folder", corpus, out, csv_path=tmp_path / "none.csv", name="calls")


def test_generated_corpus_takes_no_directory(tmp_path):
    with pytest.raises(SertoolError, match="takes no corpus directory"):
        prepare_corpus("synthetic", tmp_path, tmp_path / "out")
    with pytest.raises(SertoolError, match="nothing to download"):
        prepare_corpus("synthetic", None, tmp_path / "out", download=True)


def test_licensed_corpus_download_refused_before_any_work(tmp_path):
    with pytest.raises(SertoolError, match="chineseldc"):
        prepare_corpus("casia", tmp_path / "CASIA", tmp_path / "out", download=True)
    assert not (tmp_path / "out").exists()


def _report(speakers: int, leaking: list[str]) -> PrepReport:
    return PrepReport(corpus="toy", out_dir="data/toy", kept=2 * speakers, skipped={"no signal": 1}, oov_words=2,
                      oov_examples=["zyx", "qqq"], classes={"angry": speakers, "sad": speakers},
                      speakers={f"toy/s{i}": 2 for i in range(speakers)}, protocol="stratified-kfold",
                      folds=[{"name": "fold1", "train": 3, "dev": 0, "test": 1, "leaking_speakers": leaking}],
                      warnings=["fold1: not speaker-independent"])


def test_print_report(capsys):
    print_report(_report(2, ["toy/s0", "toy/s1", "toy/s2", "toy/s3"]))
    err = " ".join(capsys.readouterr().err.split())
    for line in ("toy: kept 4 utterances → data/toy", "skipped 1: no signal",
                 "out-of-vocabulary words left out of phones: 2 (e.g. zyx, qqq)", "classes: angry 2, sad 2",
                 "speakers: 2 (2–2 utterances each)", "per speaker: s0 2, s1 2", "toy/s0, toy/s1, toy/s2 …",
                 "warning: fold1: not speaker-independent"):
        assert line in err, line
    print_report(_report(MAX_LISTED_SPEAKERS + 1, []))
    err = " ".join(capsys.readouterr().err.split())
    assert "per-speaker counts: data/toy/summary.json" in err and "none" in err
