"""RAVDESS prep on a miniature Audio_Speech_Actors_01-24."""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.corpora.ravdess import parse_name, prepare_ravdess
from sertool.errors import SertoolError


def build_ravdess(root: Path, write_wav, actors=range(1, 7)) -> Path:
    """Six actors × (neutral normal, angry normal/strong, calm strong, happy strong), 48 kHz."""
    rel = root / "Audio_Speech_Actors_01-24"
    for actor in actors:
        for emo, level, statement in (("01", "01", "01"), ("05", "01", "02"), ("05", "02", "01"),
                                      ("02", "02", "02"), ("03", "02", "01")):
            write_wav(rel / f"Actor_{actor:02d}" / f"03-01-{emo}-{level}-{statement}-01-{actor:02d}.wav", 48000)
    return rel


def test_manifest_fields(tmp_path, write_wav, outputs, folds_ok):
    rel = build_ravdess(tmp_path, write_wav)
    write_wav(rel / "Actor_01" / "03-01-09-01-01-01-01.wav", 48000)  # unknown emotion code
    write_wav(rel / "Actor_01" / "notes.wav", 48000)  # not a RAVDESS name
    (rel / "Actor_02" / "03-01-04-01-01-01-02.wav").write_bytes(b"RIFF\x00\x00")  # unreadable
    (rel / "Actor_02" / "._03-01-04-01-01-01-02.wav").write_bytes(b"\x00\x05")  # macOS junk, ignored
    report = prepare_ravdess(rel, tmp_path / "out", k=3)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 30

    u = utts["ravdess/03-01-05-02-01-01-03"]
    assert u.audio == str(rel / "Actor_03" / "03-01-05-02-01-01-03.wav")
    assert (u.duration, u.sample_rate) == (pytest.approx(0.2), 48000)
    assert (u.speaker, u.gender, u.language, u.session, u.style, u.split) == (
        "ravdess/Actor_03", "M", "en", None, "acted", None)
    assert u.text == "Kids are talking by the door" and u.phones[:4] == ["K", "IH1", "D", "Z"]
    assert (u.emotion, u.emotion_raw, u.intensity, u.esc, u.eis, u.vad) == (
        "angry", "05", "strong", "anger", 3.0, None)
    normal = utts["ravdess/03-01-05-01-02-01-04"]
    assert (normal.gender, normal.intensity, normal.eis, normal.text) == (
        "F", "normal", 2.0, "Dogs are sitting by the door")
    neutral = utts["ravdess/03-01-01-01-01-01-01"]
    assert (neutral.emotion, neutral.esc, neutral.eis) == ("neutral", "neutral", 0.0)
    calm = utts["ravdess/03-01-02-02-02-01-01"]
    assert (calm.emotion, calm.intensity, calm.esc, calm.eis) == ("calm", "strong", None, -1.0)

    assert summary["skipped"] == {"unknown emotion label": 1, "file name not in RAVDESS form (MM-VV-EE-II-SS-RR-AA)": 1,
                                  "unreadable audio file": 1}
    assert summary["classes"] == {"angry": 12, "calm": 6, "happy": 6, "neutral": 6}
    assert protocol == "speaker-kfold" and len(folds) == 3
    folds_ok(utts, folds, speaker_independent=True)


def test_parse_name_errors():
    assert parse_name("03-01-08-02-02-02-24")["gender"] == "F"
    with pytest.raises(SertoolError, match="unknown intensity"):
        parse_name("03-01-05-03-01-01-01")
    with pytest.raises(SertoolError, match="audio-only"):
        parse_name("01-01-05-01-01-01-01")


def test_missing_dir_and_cli(tmp_path, write_wav, cli):
    with pytest.raises(SertoolError, match="not found"):
        prepare_ravdess(tmp_path / "missing", tmp_path / "out")
    result = cli("prep", "ravdess", tmp_path / "missing", tmp_path / "out")
    assert result.exit_code == 1 and "corpus directory not found" in result.output
    rel = build_ravdess(tmp_path, write_wav)
    result = cli("prep", "ravdess", rel, tmp_path / "out", "--protocol", "leave-one-speaker-out")
    assert result.exit_code == 0, result.output
    assert "kept 30 utterances" in result.output and "Actor_01 5" in result.output
