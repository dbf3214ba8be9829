"""Fold protocols: disjoint train/dev/test, speaker independence where promised, CASIA's ten folds."""

from __future__ import annotations

from collections import Counter

import pytest

from sertool.data.folds import (
    PROTOCOLS,
    SPEAKER_INDEPENDENT_PROTOCOLS,
    Fold,
    fit_protocol,
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


def iemocap_like() -> list[Utterance]:
    """Five sessions, two dialogs each (led by F, by M); both actors speak in every dialog."""
    utts = []
    for session in range(1, 6):
        for lead in "FM":
            for speaker in "FM":
                for i in range(3):
                    name = f"Ses{session:02d}{lead}_impro01_{speaker}{i:03d}"
                    utts.append(Utterance(
                        id=f"iemocap/{name}", corpus="iemocap", audio=f"/a/{name}.wav", duration=1.0,
                        sample_rate=16000, speaker=f"iemocap/Ses{session:02d}{speaker}", gender=speaker,
                        language="en", session=f"Ses{session:02d}", style="acted", emotion=EMOTIONS[i]))
    return utts


def test_dialog_ten_fold_groups_by_dialog_prefix_and_is_speaker_dependent():
    utts = iemocap_like()
    assert "dialog-10fold" in PROTOCOLS and "dialog-10fold" not in SPEAKER_INDEPENDENT_PROTOCOLS
    folds = make_folds(utts, "dialog-10fold")
    assert [f.name for f in folds] == [f"Ses{s:02d}{g}" for s in range(1, 6) for g in "FM"]
    check(folds, utts, independent=False)
    first = folds[0]
    # the test set is every utterance of the Ses01F_* dialogs, whoever speaks: both session-1 actors
    assert sorted(first.test) == sorted(u.id for u in utts if u.id.startswith("iemocap/Ses01F_"))
    assert {u.speaker for u in utts if u.id in set(first.test)} == {"iemocap/Ses01F", "iemocap/Ses01M"}
    # ... who also speak in training (the Ses01M_* dialogs): the paper's speaker task can score 98.6 %
    assert all(leaking_speakers(f, utts) for f in folds)
    assert sorted(first.dev) == sorted(u.id for u in utts if u.id.startswith("iemocap/Ses01M_"))
    assert folds[9].dev == folds[0].test and len(first.train) == 8 * 6
    assert sorted(i for f in folds for i in f.test) == sorted(u.id for u in utts)
    assert all(not f.dev for f in make_folds(utts, "dialog-10fold", dev="none"))
    with pytest.raises(SertoolError, match="needs IEMOCAP utterance names"):
        make_folds(corpus(), "dialog-10fold")


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if p not in ("casia-10fold", "dialog-10fold")])
def test_dev_none_empties_every_dev_list(protocol):
    utts = corpus()
    for dev in ("speakers", "none"):
        folds = make_folds(utts, protocol, k=4, dev=dev)
        assert all(f.dev for f in folds) == (dev == "speakers") and any(f.dev for f in folds) == (dev == "speakers")
        for f in folds:  # with no dev set its utterances train (corpus-split: the corpus's own dev is left out)
            assert f.train and f.test
    with pytest.raises(SertoolError, match="unknown dev set 'half'"):
        make_folds(utts, "speaker-kfold", dev="half")


def test_fewer_speakers_than_folds_is_leave_one_speaker_out():
    utts = corpus(speakers=3)
    protocol, notice = fit_protocol(utts, "speaker-kfold", 5)
    assert protocol == "leave-one-speaker-out"
    assert "needs 5 speakers, found 3" in notice and "leave-one-speaker-out (3 folds)" in notice
    assert fit_protocol(utts, "speaker-kfold", 3) == ("speaker-kfold", None)
    assert fit_protocol(utts, "stratified-kfold", 5) == ("stratified-kfold", None)
    assert fit_protocol(corpus(speakers=1), "speaker-kfold", 5) == ("speaker-kfold", None)  # nothing to fall back to


def test_fold_count_errors_name_the_flag():
    with pytest.raises(SertoolError, match=r"found 3 \(use --folds 3 or fewer"):
        make_folds(corpus(speakers=3), "speaker-kfold", k=5)
    with pytest.raises(SertoolError, match="--protocol stratified-kfold"):
        make_folds(corpus(speakers=1), "speaker-kfold", k=5)
    with pytest.raises(SertoolError, match="--protocol stratified-kfold"):
        make_folds(corpus(speakers=1), "leave-one-speaker-out")
    with pytest.raises(SertoolError, match=r"needs at least 5 utterances, found 3 \(use --folds 3 or fewer\)"):
        make_folds(corpus(speakers=1, per_speaker=3), "stratified-kfold", k=5)
