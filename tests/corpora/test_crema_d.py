"""CREMA-D prep on a miniature CREMA-D root (AudioWAV/ + VideoDemographics.csv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.corpora.crema_d import prepare_crema_d
from sertool.errors import SertoolError

DEMOGRAPHICS = """ActorID,Age,Sex,Race,Ethnicity
1001,51,Male,Caucasian,Not Hispanic
1002,21,Female,Caucasian,Not Hispanic
1003,21,Female,Caucasian,Not Hispanic
1004,42,Female,Caucasian,Not Hispanic
1005,29,Male,African American,Not Hispanic
1006,58,Female,Caucasian,Not Hispanic
"""


def build_crema(root: Path, write_wav) -> Path:
    rel = root / "CREMA-D"
    (rel / "AudioWAV").mkdir(parents=True)
    (rel / "VideoDemographics.csv").write_text(DEMOGRAPHICS)
    for actor in range(1001, 1008):  # 1007 is missing from the demographics
        for name in ("IEO_ANG_HI", "IEO_ANG_LO", "IEO_NEU_XX", "DFA_SAD_XX", "ITS_HAP_MD", "TIE_FEA_XX", "WSI_DIS_XX"):
            write_wav(rel / "AudioWAV" / f"{actor}_{name}.wav", 16000)
    # A file without signal (digital silence), and one that is empty.
    write_wav(rel / "AudioWAV" / "1001_MTI_SAD_XX.wav", 16000, silent=True)
    (rel / "AudioWAV" / "1002_MTI_SAD_XX.wav").write_bytes(b"")
    write_wav(rel / "AudioWAV" / "1003_XYZ_SAD_XX.wav", 16000)  # unknown sentence
    write_wav(rel / "AudioWAV" / "1003_TSI_BOR_XX.wav", 16000)  # unknown emotion
    return rel


def test_manifest_fields(tmp_path, write_wav, outputs, folds_ok):
    rel = build_crema(tmp_path, write_wav)
    report = prepare_crema_d(rel, tmp_path / "out", k=3)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 49

    u = utts["crema-d/1001_IEO_ANG_HI"]
    assert u.audio == str(rel / "AudioWAV" / "1001_IEO_ANG_HI.wav")
    assert (u.duration, u.sample_rate, u.speaker, u.gender, u.language, u.session, u.style, u.split) == (
        pytest.approx(0.2), 16000, "crema-d/1001", "M", "en", None, "acted", None)
    assert u.text == "It's eleven o'clock" and u.phones and u.vad is None
    assert (u.emotion, u.emotion_raw, u.intensity, u.esc, u.eis) == ("angry", "ANG", "high", "anger", 3.5)
    lo = utts["crema-d/1002_IEO_ANG_LO"]
    assert (lo.intensity, lo.eis) == ("low", 1.5)
    md = utts["crema-d/1004_ITS_HAP_MD"]
    assert (md.emotion, md.intensity, md.esc, md.eis, md.text) == (
        "happy", "medium", "joy", 2.5, "I think I've seen this before")
    xx = utts["crema-d/1003_DFA_SAD_XX"]
    assert (xx.intensity, xx.esc, xx.eis) == (None, "sadness", -1.0)
    neu = utts["crema-d/1003_IEO_NEU_XX"]
    assert (neu.emotion, neu.eis) == ("neutral", 0.0)
    # Gender from the demographics file, not actor-number parity (1003 is odd and female,
    # 1005 odd and male, 1004 even and female).
    assert [utts[f"crema-d/{a}_IEO_NEU_XX"].gender for a in (1003, 1004, 1005, 1006, 1007)] == [
        "F", "F", "M", "F", None]

    assert "crema-d/1001_MTI_SAD_XX" not in utts
    assert summary["skipped"] == {"no signal": 1, "empty audio file": 1, "unknown sentence code": 1,
                                  "unknown emotion label": 1}
    warnings = "\n".join(summary["warnings"])
    assert "AudioWAV/1001_MTI_SAD_XX.wav" in warnings
    assert "missing from VideoDemographics.csv" in warnings
    assert protocol == "speaker-kfold"
    folds_ok(utts, folds, speaker_independent=True)


def test_without_demographics(tmp_path, write_wav, outputs):
    rel = build_crema(tmp_path, write_wav)
    (rel / "VideoDemographics.csv").unlink()
    prepare_crema_d(rel, tmp_path / "out", protocol="stratified-kfold", k=2)
    utts, _, _, summary = outputs(tmp_path / "out")
    assert all(u.gender is None for u in utts.values())
    assert any("VideoDemographics.csv not found" in w for w in summary["warnings"])
    assert any("not speaker-independent" in w for w in summary["warnings"])


def test_parallel_probe(tmp_path, write_wav):
    """The process-pool path gives the same answers as the serial one."""
    from sertool.corpora.scan import probe_audio

    rel = build_crema(tmp_path, write_wav)
    paths = sorted((rel / "AudioWAV").glob("*.wav"))
    serial = probe_audio(paths, jobs=1, check_signal=True)
    assert probe_audio(paths, jobs=2, check_signal=True, min_parallel=1) == serial
    assert serial.count("no signal") == 1 and serial.count("empty audio file") == 1


def test_cli(tmp_path, write_wav, cli):
    rel = build_crema(tmp_path, write_wav)
    result = cli("prep", "crema-d", rel, tmp_path / "out", "-k", "3")
    assert result.exit_code == 0, result.output
    assert "skipped 1: no signal" in result.output and "1007 7" in result.output


def test_demographics_not_in_utf8_is_an_error_naming_the_line(tmp_path, write_wav):
    """A demographics file in another encoding is not guessed (cp1252 would be read without a word)."""
    rel = build_crema(tmp_path, write_wav)
    text = DEMOGRAPHICS.replace("1003,21,Female,Caucasian", "1003,21,Female,Métis")
    (rel / "VideoDemographics.csv").write_bytes(text.encode("cp1252"))
    with pytest.raises(SertoolError, match=r"VideoDemographics.csv line 4 is not valid UTF-8 "
                                           r"\(byte 0xe9 at column 17\); the release's .* re-save it as UTF-8"):
        prepare_crema_d(rel, tmp_path / "out", k=3)
