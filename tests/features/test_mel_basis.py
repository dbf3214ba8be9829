"""The log-mel extractor's window and filter bank, computed without librosa or scipy, equal theirs bit for bit.

(``sertool infer`` builds them at every start; importing librosa and scipy.signal for them took seconds.)
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from sertool.features.spectral import slaney_mel, stft_window


@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax", [
    (16000, 800, 128, 0.0, None), (16000, 1024, 80, 90.0, 7600.0), (16000, 512, 40, 0.0, None),
    (22050, 2048, 128, 20.0, None), (8000, 256, 64, 50.0, 3800.0), (16000, 640, 128, 0.0, 8000.0)])
def test_slaney_mel_equals_librosa(sr, n_fft, n_mels, fmin, fmax):
    ours = slaney_mel(sr, n_fft, n_mels, fmin, fmax)
    theirs = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman"])
@pytest.mark.parametrize("length", [1, 2, 3, 400, 512, 800, 1023, 1024])
def test_stft_window_equals_librosa(name, length):
    assert np.array_equal(stft_window(name, length), librosa.filters.get_window(name, length, fftbins=True))
