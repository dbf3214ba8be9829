"""The synthetic eSpeak NG corpus: determinism, manifest contract, folds, channels, emotion effects, CLI.

Corpora are tiny (two speakers, a few utterances per class) so the whole file runs in seconds.

Example:
    $ python -m pytest tests/corpora/test_synthetic.py -q
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertool.corpora.common import PrepReport
from sertool.corpora.sentences import SENTENCES
from sertool.corpora.synthetic import (
    EMOTIONS,
    make_speakers,
    plan_corpus,
    prepare_synthetic,
    render,
)
from sertool.data.manifest import Utterance, read_manifest
from sertool.data.tokens import get_inventory, phonemise
from sertool.errors import SertoolError

TINY = {"speakers": 2, "per_class": 3, "languages": ("en",), "styles": ("studio",), "k": 2}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PrepReport]:
    """Two English speakers, three utterances per emotion (all intensities), studio channel."""
    out = tmp_path_factory.mktemp("syn") / "a"
    return out, prepare_synthetic(out, seed=0, jobs=1, **TINY)


@pytest.fixture(scope="module")
def utts(corpus: tuple[Path, PrepReport]) -> list[Utterance]:
    return read_manifest(corpus[0] / "manifest.jsonl")


def _manifest_lines(out: Path) -> list[str]:
    return (out / "manifest.jsonl").read_text(encoding="utf-8").replace(str(out.resolve()), "<OUT>").splitlines()


def _samples(utts: list[Utterance]) -> dict[str, np.ndarray]:
    return {u.id: sf.read(u.audio, dtype="int16")[0] for u in utts}


def test_same_seed_same_corpus_whatever_the_jobs(corpus, utts, tmp_path: Path) -> None:
    out_a, _ = corpus
    out_b = tmp_path / "b"
    prepare_synthetic(out_b, seed=0, jobs=2, **TINY)
    assert _manifest_lines(out_b) == _manifest_lines(out_a)
    a, b = _samples(utts), _samples(read_manifest(out_b / "manifest.jsonl"))
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[i], b[i]) for i in a)
    assert (out_b / "folds.json").read_text() == (out_a / "folds.json").read_text()


def test_other_seed_other_corpus(utts, tmp_path: Path) -> None:
    out = tmp_path / "c"
    prepare_synthetic(out, seed=1, jobs=1, **{**TINY, "per_class": 1})
    other = _samples(read_manifest(out / "manifest.jsonl"))
    mine = _samples(utts)
    shared = sorted(other.keys() & mine.keys())
    assert shared  # the same ids (speaker, emotion, index) exist in both
    assert not any(np.array_equal(other[i], mine[i]) for i in shared)


def test_an_utterance_does_not_depend_on_corpus_size(tmp_path: Path) -> None:
    small = plan_corpus(tmp_path, make_speakers(2, ("en", "zh"), 3), 2, ("studio", "telephone"), 3)
    large = plan_corpus(tmp_path, make_speakers(5, ("en", "zh"), 3), 4, ("studio", "telephone"), 3)
    by_name = {p.name: p for p, _ in large}
    assert all(by_name[p.name] == p for p, _ in small)


def test_manifest_fields(corpus, utts) -> None:
    out, report = corpus
    assert len(utts) == report.kept == 2 * len(EMOTIONS) * 3
    assert report.classes == dict.fromkeys(sorted(EMOTIONS), 6)
    assert report.oov_words == 0
    inventory = set(get_inventory("cmudict85").symbols)
    assert (out / "tokens_cmudict85.txt").read_text().split() == list(get_inventory("cmudict85").symbols)
    speakers = {u.speaker: u.gender for u in utts}
    assert speakers == {"synthetic/en-m1": "M", "synthetic/en-f1": "F"}
    eis_of = {"low": 1.5, "medium": 2.5, "high": 3.5}
    for u in utts:
        assert u.corpus == "synthetic" and u.id.startswith("synthetic/en-")
        assert u.style == "synthetic" and u.session is None and u.split is None
        assert u.language == "en" and u.text in SENTENCES["en"]
        assert u.emotion_raw == u.emotion and u.emotion in EMOTIONS
        assert u.extra == {"channel": "studio"}
        assert u.phones and set(u.phones) <= inventory
        if u.emotion == "neutral":
            assert u.intensity is None and u.esc == "neutral" and u.eis == 0.0
        else:
            assert u.intensity in eis_of and u.eis == eis_of[u.intensity]
            assert u.esc == {"happy": "joy", "angry": "anger", "sad": "sadness"}[u.emotion]
        path = Path(u.audio)
        assert path.is_absolute() and path.is_relative_to(out.resolve() / "audio")
        info = sf.info(str(path))
        assert info.samplerate == u.sample_rate == 16000 and info.subtype == "PCM_16"
        assert u.duration == pytest.approx(info.frames / info.samplerate, abs=1e-9)
        assert 1.0 < u.duration < 8.0
    # Every intensity level is present for every non-neutral emotion.
    assert {(u.emotion, u.intensity) for u in utts if u.intensity} == {
        (e, lvl) for e in EMOTIONS[1:] for lvl in eis_of
    }
    assert not list(out.rglob("*.tmp"))


def test_folds_are_speaker_independent(corpus, utts) -> None:
    out, report = corpus
    assert report.leaking_folds() == []
    folds = json.loads((out / "folds.json").read_text())
    assert folds["protocol"] == "speaker-kfold" and len(folds["folds"]) == 2
    speaker = {u.id: u.speaker for u in utts}
    for f in folds["folds"]:
        assert {speaker[i] for i in f["train"] + f["dev"]}.isdisjoint({speaker[i] for i in f["test"]})
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kept"] == len(utts)


def test_two_languages_get_their_own_speakers(tmp_path: Path) -> None:
    out = tmp_path / "mix"
    report = prepare_synthetic(out, speakers=2, per_class=1, languages=("en", "zh"), jobs=1, k=2)
    utts = read_manifest(out / "manifest.jsonl")
    assert report.oov_words == 0
    assert {(u.speaker, u.language, u.gender) for u in utts} == {
        ("synthetic/en-m1", "en", "M"),
        ("synthetic/zh-f1", "zh", "F"),
    }
    pinyin = set(get_inventory("pinyin202").symbols)
    for u in utts:
        if u.language == "zh":
            assert u.text in SENTENCES["zh"] and u.phones and set(u.phones) <= pinyin
    assert (out / "tokens_pinyin202.txt").is_file() and (out / "tokens_cmudict85.txt").is_file()
    assert {u.extra["channel"] for u in utts} <= {"studio", "telephone"}


def test_speaker_language_assignment() -> None:
    names = [s.name for s in make_speakers(8, ("en", "zh"), 0)]
    assert names == ["en-m1", "zh-f1", "zh-m2", "en-f2", "en-m3", "zh-f3", "zh-m4", "en-f4"]
    assert [s.variant for s in make_speakers(13, ("en",), 0)][-3:] == ["m6", "m7", "m8"]


def _band_energy_above(x: np.ndarray, hz: float, sr: int = 16000) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1.0 / sr)
    return float(spec[freqs > hz].sum() / spec.sum())


def test_telephone_channel_is_band_limited(tmp_path: Path) -> None:
    plan = plan_corpus(tmp_path, make_speakers(1, ("en",), 0), 1, ("studio",), 0)[0][0]
    studio = render(plan)
    phone = render(dataclasses.replace(plan, channel="telephone"))
    # Studio speech keeps its high band (fricatives, harmonics); the telephone has next to none.
    assert _band_energy_above(studio, 4000.0) > 1e-3
    assert _band_energy_above(phone, 4000.0) < 1e-6
    # Low frequencies under 300 Hz are cut as well.
    spec = np.abs(np.fft.rfft(phone)) ** 2
    freqs = np.fft.rfftfreq(phone.size, 1 / 16000)
    assert spec[freqs < 200].sum() < 0.02 * spec.sum()


def _measure(u: Utterance) -> tuple[float, float, float]:
    """Median F0 (semitones re 100 Hz, pyworld DIO), active RMS (dB) and duration of a file."""
    import pyworld

    x, sr = sf.read(u.audio, dtype="float64")
    f0, t = pyworld.dio(x, sr, f0_floor=55.0, f0_ceil=600.0, frame_period=10.0)
    voiced = f0[f0 > 0]
    frames = x[: x.size // 320 * 320].reshape(-1, 320)
    power = (frames**2).mean(axis=1)
    rms_db = 10 * np.log10(power[power > power.max() * 1e-3].mean())
    return float(np.median(12 * np.log2(voiced / 100.0))), float(rms_db), u.duration


def test_emotions_differ_in_the_intended_direction(utts) -> None:
    stats: dict[str, list[tuple[float, float, float]]] = {e: [] for e in EMOTIONS}
    for u in utts:
        stats[u.emotion].append(_measure(u))
    # Compare within each speaker (a female voice's F0 would swamp the effect otherwise).
    f0: dict[str, float] = {}
    for e in EMOTIONS:
        per_spk = {}
        for u, s in zip([u for u in utts if u.emotion == e], stats[e]):
            per_spk.setdefault(u.speaker, []).append(s[0])
        f0[e] = float(np.mean([np.mean(v) for v in per_spk.values()]))
    rms = {e: float(np.mean([s[1] for s in stats[e]])) for e in EMOTIONS}
    dur = {e: float(np.mean([s[2] for s in stats[e]])) for e in EMOTIONS}
    assert f0["angry"] > f0["sad"] + 2 and f0["happy"] > f0["sad"] + 2
    assert f0["happy"] > f0["neutral"] > f0["sad"]
    assert rms["angry"] > rms["neutral"] > rms["sad"] and rms["angry"] > rms["sad"] + 8
    assert dur["sad"] > dur["neutral"] > dur["angry"]


def test_bad_settings_raise(tmp_path: Path) -> None:
    for kwargs in ({"speakers": 14}, {"speakers": 1}, {"per_class": 0}, {"languages": ("fr",)},
                   {"languages": ()}, {"styles": ("radio",)}, {"styles": ("studio", "studio")}):
        with pytest.raises(SertoolError):
            prepare_synthetic(tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()


def test_sentences_are_fully_phonemised() -> None:
    for lang, inventory in (("en", "cmudict85"), ("zh", "pinyin202")):
        assert len(SENTENCES[lang]) >= 30 and len(set(SENTENCES[lang])) == len(SENTENCES[lang])
        symbols = set(get_inventory(inventory).symbols)
        for text in SENTENCES[lang]:
            result = phonemise(text, lang)
            assert result.oov == [] and result.phones and set(result.phones) <= symbols, text


def test_cli_prep_synthetic(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sertool.cli.main import app

    out = tmp_path / "cli"
    args = ["prep", "synthetic", str(out), "--speakers", "2", "--per-class", "2", "--languages", "en"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    for name in ("manifest.jsonl", "folds.json", "summary.json", ".done"):
        assert (out / name).is_file(), name
    assert len(read_manifest(out / "manifest.jsonl")) == 16
    # Two speakers: the default k=4 is lowered to 2 (with a warning), folds stay speaker-independent.
    report = PrepReport.load(out)
    assert len(report.folds) == 2 and report.leaking_folds() == [] and report.warnings
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0 and "up to date" in second.output
    bad = CliRunner().invoke(app, ["prep", "synthetic", str(tmp_path / "x"), "--languages", "fr"])
    assert bad.exit_code == 1 and "unknown language" in bad.output
