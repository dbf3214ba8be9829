"""Fold protocols: disjoint train/dev/test, speaker independence where promised, CASIA's ten folds."""

from __future__ import annotations

from collections import Counter

import pytest

from sertool.data.folds import (
    PROTOCOLS,
    SPEAKER_INDEPENDENT_PROTOCOLS,
    Fold,
    leaking_speakers,
    make_folds,
    read_folds,
    write_folds,
)
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

EMOTIONS = ("neutral", "happy", "angry", "sad")


def corpus(speakers: int = 8, per_speaker: int = 12, sessions: int = 4) -> list[Utterance]:
    utts = []
    for s in range(speakers):
        for i in range(per_speaker):
            utts.append(Utterance(
                id=f"c/s{s}-{i}", corpus="c", audio=f"/a/s{s}-{i}.wav", duration=1.0, sample_rate=16000,
                speaker=f"c/s{s}", gender="F" if s % 2 else "M", language="en",
                session=f"Ses{s % sessions + 1:02d}", style="acted", emotion=EMOTIONS[i % 4],
                split=("train", "dev", "test")[s % 3],
            ))
    return utts


def check(folds: list[Fold], utts: list[Utterance], independent: bool) -> None:
    ids = {u.id for u in utts}
    for f in folds:
        train, dev, test = set(f.train), set(f.dev), set(f.test)
        assert train and test and not (train & dev or train & test or dev & test)
        assert train | dev | test <= ids
        if independent:
            assert not leaking_speakers(f, utts), f.name


@pytest.mark.parametrize("protocol", SPEAKER_INDEPENDENT_PROTOCOLS)
def test_speaker_independent_protocols(protocol):
    utts = corpus()
    folds = make_folds(utts, protocol, k=4, seed=1)
    check(folds, utts, independent=True)
    # Every utterance is tested exactly once, and dev is whole training speakers.
    assert sorted(i for f in folds for i in f.test) == sorted(u.id for u in utts)
    for f in folds:
        assert f.dev
        dev_speakers = {i.split("-")[0] for i in f.dev}
        assert not dev_speakers & {i.split("-")[0] for i in f.train}


def test_group_names_and_counts():
    utts = corpus()
    assert [f.name for f in make_folds(utts, "leave-one-session-out")] == ["Ses01", "Ses02", "Ses03", "Ses04"]
    assert [f.name for f in make_folds(utts, "leave-one-speaker-out")][:2] == ["s0", "s1"]
    sizes = [len(f.test) for f in make_folds(utts, "speaker-kfold", k=4)]
    assert sizes == [24, 24, 24, 24]


def test_stratified_kfold_is_not_speaker_independent():
    utts = corpus()
    folds = make_folds(utts, "stratified-kfold", k=4, seed=0, repeats=2)
    assert [f.name for f in folds][:2] == ["r1-1", "r1-2"] and len(folds) == 8
    check(folds, utts, independent=False)
    assert all(leaking_speakers(f, utts) for f in folds)
    for f in folds[:4]:  # stratified: each test set holds every class equally
        assert set(Counter(u.emotion for u in utts if u.id in set(f.test)).values()) == {6}
    assert make_folds(utts, "stratified-kfold", seed=5)[0].test == make_folds(utts, "stratified-kfold", seed=5)[0].test


def test_stratified_dev_keeps_small_classes_in_train():
    """A class with fewer utterances left than 1/dev_fraction must not go wholly to dev."""
    utts = corpus(speakers=2, per_speaker=8)
    for f in make_folds(utts, "stratified-kfold", k=4):
        assert f.train and not f.dev


def test_corpus_split():
    utts = corpus(speakers=6)
    (fold,) = make_folds(utts, "corpus-split")
    assert fold.name == "corpus"
    assert {u.split for u in utts if u.id in set(fold.dev)} == {"dev"}
    for u in utts:
        u.split = None
    with pytest.raises(SertoolError, match="corpus-split needs"):
        make_folds(utts, "corpus-split")


def test_casia_ten_fold():
    utts = []
    for spk in ("a", "b"):
        for emotion in ("angry", "sad"):
            for n in range(1, 21):  # sentence numbers 1..20: natural order, not 1, 10, 11, ...
                utts.append(Utterance(
                    id=f"casia/{spk}_{emotion}_{n}", corpus="casia", audio="/a.wav", duration=1.0,
                    sample_rate=16000, speaker=f"casia/{spk}", gender=None, language="zh", session=None,
                    style="acted", emotion=emotion))
    folds = make_folds(utts, "casia-10fold")
    assert [f.name for f in folds] == [str(i) for i in range(1, 11)]
    check(folds, utts, independent=False)
    first = folds[0]
    assert sorted(first.test) == sorted(f"casia/{s}_{e}_{n}" for s in "ab" for e in ("angry", "sad") for n in (1, 2))
    assert sorted(first.dev) == sorted(f"casia/{s}_{e}_{n}" for s in "ab" for e in ("angry", "sad") for n in (3, 4))
    assert len(first.train) == 64
    assert sorted(i for f in folds for i in f.test) == sorted(u.id for u in utts)
    assert folds[9].dev == [u.id for u in utts if u.id in set(folds[0].test)]  # wraps to block 1
    assert all(not f.dev for f in make_folds(utts, "casia-10fold", dev_fraction=0))


def test_errors_and_round_trip(tmp_path):
    utts = corpus()
    with pytest.raises(SertoolError, match="unknown fold protocol"):
        make_folds(utts, "random")
    with pytest.raises(SertoolError, match="at least 20 speakers"):
        make_folds(utts, "speaker-kfold", k=20)
    for u in utts[:3]:
        u.session = None
    with pytest.raises(SertoolError, match="needs a session"):
        make_folds(utts, "leave-one-session-out")
    folds = make_folds(utts, "speaker-kfold", k=2, seed=3)
    write_folds(tmp_path / "folds.json", "speaker-kfold", folds, k=2, seed=3)
    assert read_folds(tmp_path / "folds.json") == ("speaker-kfold", folds)
    with pytest.raises(SertoolError, match="more than one set"):
        write_folds(tmp_path / "bad.json", "x", [Fold("1", ["a"], [], ["a"])])
    assert set(SPEAKER_INDEPENDENT_PROTOCOLS) < set(PROTOCOLS) and "casia-10fold" in PROTOCOLS
