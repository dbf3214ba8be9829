"""Audio reading: any rate and channel count, resampled and down-mixed; clear errors; truncated WAVs."""

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertool.audio import audio_info, check_truncated, read_audio
from sertool.errors import SertoolError


def test_stereo_44k_is_downmixed_and_resampled(tmp_path: Path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], axis=1) * 0.5
    sf.write(tmp_path / "a.wav", stereo, 44100)
    wave, sr = read_audio(tmp_path / "a.wav", sample_rate=16000)
    assert sr == 16000 and wave.ndim == 1 and abs(len(wave) - 16000) <= 1
    assert 0.2 < np.abs(wave).max() < 0.3  # mean of the two channels


@pytest.mark.parametrize("content,match", [(None, "not found"), (b"", "cannot read"), (b"garbage" * 10, "cannot read")])
def test_bad_files_raise_one_line_errors(tmp_path: Path, content, match):
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SertoolError, match=match):
        read_audio(path)


def test_file_without_samples(tmp_path: Path):
    sf.write(tmp_path / "e.wav", np.zeros(0), 16000)
    with pytest.raises(SertoolError, match="no samples"):
        read_audio(tmp_path / "e.wav")


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT")])
def test_samples_are_libsndfiles_floats(tmp_path: Path, fmt: str, subtype: str):
    rng = np.random.default_rng(0)
    stereo = np.clip(rng.standard_normal((8000, 2)) * 0.3, -1, 1)
    stereo[:4] = [[-1.0, 1.0], [0.0, -0.5], [1 / 32768, -1 / 32768], [0.999, -0.999]]
    path = tmp_path / f"a.{fmt.lower()}"
    sf.write(path, stereo, 16000, subtype=subtype, format=fmt)
    wave, sr = read_audio(path)
    reference, _ = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 16000 and wave.dtype == np.float32
    np.testing.assert_array_equal(wave, reference.mean(axis=1))


def test_a_directory_is_named_as_such(tmp_path: Path):
    folder = tmp_path / "clip.wav"
    folder.mkdir()
    for read in (read_audio, audio_info):
        with pytest.raises(SertoolError, match=r"clip.wav is a directory, not an audio file$"):
            read(folder)


def write_tone(path: Path, seconds: float = 1.0, fmt: str = "WAV") -> Path:
    sf.write(path, 0.1 * np.sin(np.arange(int(16000 * seconds)) / 10), 16000, subtype="PCM_16", format=fmt)
    return path


def cut(path: Path, nbytes: int, name: str) -> Path:
    """A copy of ``path`` without its last ``nbytes`` bytes."""
    out = path.with_name(name)
    out.write_bytes(path.read_bytes()[:-nbytes])
    return out


def test_truncated_wav_is_told_from_its_header(tmp_path: Path):
    whole = write_tone(tmp_path / "whole.wav")
    short = cut(whole, 20000, "short.wav")  # 1 s promised, 0.375 s present
    assert check_truncated(whole) is None
    assert check_truncated(short) == (
        "header promises 32000 bytes of samples (1.00 s), the file holds 12000 (0.38 s)")
    # what the check exists for: libsndfile itself reports the shortened file without complaint
    assert audio_info(short) == (pytest.approx(0.375), 16000)
    assert check_truncated(cut(whole, whole.stat().st_size - 20, "header.wav")) == (
        "the file ends before its data chunk")


def test_truncation_check_leaves_other_files_alone(tmp_path: Path):
    assert check_truncated(write_tone(tmp_path / "a.flac", fmt="FLAC")) is None  # not a WAV
    assert check_truncated(tmp_path / "missing.wav") is None  # the readers report those
    (tmp_path / "junk.wav").write_bytes(b"garbage" * 10)
    assert check_truncated(tmp_path / "junk.wav") is None
    # a streaming writer cannot seek back to fill in the sizes: 0 means unknown, not truncated
    raw = bytearray(write_tone(tmp_path / "stream.wav").read_bytes())
    data = raw.index(b"data")
    raw[data + 4:data + 8] = struct.pack("<I", 0)
    (tmp_path / "stream.wav").write_bytes(bytes(raw))
    assert check_truncated(tmp_path / "stream.wav") is None
    # RF64 keeps its data size in the ds64 chunk
    rf64 = write_tone(tmp_path / "long.wav", fmt="RF64")
    assert rf64.read_bytes()[:4] == b"RF64" and check_truncated(rf64) is None
    assert check_truncated(cut(rf64, 1000, "long_cut.wav")).startswith("header promises 32000 bytes")
