"""Audio reading: any rate and channel count, resampled and down-mixed; clear errors."""

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertool.audio import read_audio
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
