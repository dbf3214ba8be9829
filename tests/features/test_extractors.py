"""Extractors: Kaldi equality, paper dimensions, frame-count formulas, registry and config errors."""

from __future__ import annotations

import zlib

import librosa
import numpy as np
import pytest
import scipy.signal
import torch
import torchaudio.compliance.kaldi as kaldi
import torchaudio.functional as taf

from sertool.errors import SertoolError
from sertool.features.extractors import get_extractor, parse_extractor_names
from sertool.features.spectral import deltas
from sertool.testing.audio import harmonic_tone

RNG = np.random.default_rng(0)
WAVE = (0.1 * RNG.standard_normal(16000 * 2) + harmonic_tone(150, 2.0)).astype(np.float32)


@pytest.mark.parametrize("conf", [
    {},
    {"num_mel_bins": 40, "snip_edges": False, "window_type": "povey", "input_scale": 1.0, "use_energy": True},
    {"window_type": "hanning", "use_energy": True, "raw_energy": False, "energy_floor": 0.0},
    {"window_type": "rectangular", "preemphasis_coefficient": 0.0, "remove_dc_offset": False},
    {"window_type": "blackman", "round_to_power_of_two": False, "frame_length_ms": 20.0, "low_freq": 60.0,
     "high_freq": -400.0, "snip_edges": False},
    {"use_power": False, "num_mel_bins": 23},
])
@pytest.mark.parametrize("seconds", [2.0, 0.025, 0.031])
def test_fbank_equals_torchaudio_kaldi(conf, seconds):
    ext = get_extractor("fbank", conf)
    c = ext.config
    wave = WAVE[:int(16000 * seconds)]
    ref = kaldi.fbank(torch.from_numpy(wave * c.input_scale).unsqueeze(0), **c.kaldi_kwargs()).numpy()
    ours = ext(wave, 16000)
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (ext.num_frames(wave.size), ext.dims)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_fbank_equals_torchaudio_kaldi_on_white_noise():
    # white noise leaves the low-frequency bins weak after DC removal and pre-emphasis: that is
    # where rounding the frame means differently from torchaudio would show (up to 3e-4 here)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        wave = (rng.standard_normal(12345) * rng.uniform(0.01, 0.5)).astype(np.float32)
        for conf in ({}, {"frame_shift_ms": 25.0, "snip_edges": False}):
            ext = get_extractor("fbank", conf)
            ref = kaldi.fbank(torch.from_numpy(wave * 32768.0).unsqueeze(0), **ext.config.kaldi_kwargs()).numpy()
            np.testing.assert_allclose(ext(wave, 16000), ref, atol=1e-4, err_msg=f"seed {seed}, {conf}")


def test_fbank_linear_energies_equal_torchaudio_kaldi():
    ext = get_extractor("fbank", {"use_log_fbank": False})
    ref = kaldi.fbank(torch.from_numpy(WAVE * 32768.0).unsqueeze(0), **ext.config.kaldi_kwargs()).numpy()
    np.testing.assert_allclose(ext(WAVE, 16000), ref, rtol=1e-4, atol=1e-3)


def test_fbank_dither_equals_torchaudio_with_the_same_noise():
    ext = get_extractor("fbank", {"dither": 1.0})
    torch.manual_seed(zlib.crc32(WAVE.tobytes()))  # the seed sertool draws its dither noise from
    ref = kaldi.fbank(torch.from_numpy(WAVE * 32768.0).unsqueeze(0), **ext.config.kaldi_kwargs()).numpy()
    np.testing.assert_allclose(ext(WAVE, 16000), ref, atol=1e-4)


def test_fbank_defaults_follow_speecheq():
    c = get_extractor("fbank").config
    assert (c.num_mel_bins, c.frame_length_ms, c.frame_shift_ms, c.window_type, c.dither, c.sample_rate) == \
        (80, 25.0, 10.0, "hamming", 0.0, 16000)


def test_fbank_dither_is_deterministic():
    ext = get_extractor("fbank", {"dither": 1.0})
    a, b = ext(WAVE, 16000), ext(WAVE, 16000)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, get_extractor("fbank")(WAVE, 16000))


def test_logmel_is_384_dims_with_deltas():
    ext = get_extractor("logmel")
    feats = ext(WAVE, 16000)
    assert ext.dims == 384 and feats.shape == (1 + WAVE.size // 400, 384)
    assert ext.frame_shift == 400 / 16000
    static = get_extractor("logmel", {"deltas": False})(WAVE, 16000)
    np.testing.assert_allclose(feats[:, :128], static, rtol=1e-6)
    # the delta of a constant signal's log-mel is zero
    flat = get_extractor("logmel")(np.full(16000, 0.1, np.float32), 16000)
    assert np.abs(flat[5:-5, 128:]).max() < 1e-3


def test_logmel_equals_librosa():
    static = get_extractor("logmel", {"deltas": False})(WAVE, 16000)
    mel = librosa.feature.melspectrogram(y=WAVE, sr=16000, n_fft=800, hop_length=400, win_length=800,
                                         window="hann", n_mels=128, pad_mode="constant")
    np.testing.assert_allclose(static, np.log(np.maximum(mel, 1e-10)).T, atol=1e-4)
    # win_length < n_fft: librosa centres the window inside the FFT frame
    ext = get_extractor("logmel", {"deltas": False, "n_fft": 1024, "win_length": 600, "hop_length": 160})
    mel = librosa.feature.melspectrogram(y=WAVE, sr=16000, n_fft=1024, hop_length=160, win_length=600,
                                         window="hann", n_mels=128, pad_mode="constant")
    np.testing.assert_allclose(ext(WAVE, 16000), np.log(np.maximum(mel, 1e-10)).T, atol=1e-4)


def test_mel80_is_speecheqs_librosa_filter_bank():
    ext = get_extractor("mel80")
    assert (ext.dims, ext.frame_shift, ext.sample_rate) == (80, 0.01, 16000)
    # speecheq.txt §3.2: librosa, 80 bands, frame size 25 ms, hop 10 ms, Hamming window
    mel = librosa.feature.melspectrogram(y=WAVE, sr=16000, n_fft=400, hop_length=160, window="hamming", n_mels=80)
    np.testing.assert_allclose(ext(WAVE, 16000), np.log(np.maximum(mel, 1e-10)).T, atol=1e-4)


def psf_logfbank(signal: np.ndarray, samplerate: int = 16000, nfilt: int = 40) -> np.ndarray:
    """python_speech_features 0.6 ``logfbank`` with its defaults, written out as documented:
    pre-emphasis 0.97, 25 ms / 10 ms frames zero-padded at the end, no window, ``|rfft|² / 512``,
    HTK-mel triangles on bins ``floor(513 f / sr)``, zeros → eps, natural log."""
    sig = np.append(signal[0], signal[1:] - 0.97 * signal[:-1])
    flen, fstep, nfft = 400, 160, 512
    n = 1 if len(sig) <= flen else 1 + int(np.ceil((len(sig) - flen) / fstep))
    padded = np.concatenate([sig, np.zeros((n - 1) * fstep + flen - len(sig))])
    frames = np.stack([padded[i * fstep:i * fstep + flen] for i in range(n)])
    pspec = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    mel = np.linspace(0, 2595 * np.log10(1 + samplerate / 2 / 700), nfilt + 2)
    corners = np.floor((nfft + 1) * 700 * (10 ** (mel / 2595) - 1) / samplerate)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        for i in range(int(corners[j]), int(corners[j + 1])):
            fb[j, i] = (i - corners[j]) / (corners[j + 1] - corners[j])
        for i in range(int(corners[j + 1]), int(corners[j + 2])):
            fb[j, i] = (corners[j + 2] - i) / (corners[j + 2] - corners[j + 1])
    feat = pspec @ fb.T
    return np.log(np.where(feat == 0, np.finfo(float).eps, feat))


@pytest.mark.parametrize("n", [32000, 400, 401, 7777])
def test_logfbank40_is_python_speech_features_logfbank(n):
    ext = get_extractor("logfbank40")
    assert (ext.dims, ext.frame_shift, ext.sample_rate) == (40, 0.01, 16000)
    samples = WAVE[:n].astype(np.float64) * 32768  # 16-bit sample values, as scipy.io.wavfile reads them
    np.testing.assert_allclose(ext(WAVE[:n], 16000), psf_logfbank(samples), atol=1e-4)
    try:  # the package itself where installed (a test-only reference, not a dependency)
        from python_speech_features import logfbank
    except ImportError:
        return
    np.testing.assert_allclose(ext(WAVE[:n], 16000), logfbank(samples, 16000, nfilt=40), atol=1e-4)


def test_deltas_equal_torchaudio():
    x = RNG.standard_normal((57, 12)).astype(np.float32)
    for window in (5, 9):
        ref = taf.compute_deltas(torch.from_numpy(x.T), win_length=window).numpy().T
        np.testing.assert_allclose(deltas(x, window), ref, atol=1e-5)


def test_spectrogram_is_speechsplit_like():
    ext = get_extractor("spectrogram")
    feats = ext(WAVE, 16000)
    assert feats.shape == (1 + WAVE.size // 256, 80)
    assert feats.min() >= 0.0 and feats.max() <= 1.0 and feats.std() > 0.01
    # the SpeechSplit recipe written out with scipy and librosa (edge padding 3 × (2 sections + 1))
    sos = scipy.signal.butter(5, 30, btype="highpass", fs=16000, output="sos")
    mel = librosa.feature.melspectrogram(y=scipy.signal.sosfiltfilt(sos, WAVE, padlen=21).astype(np.float32), sr=16000,
                                         n_fft=1024, hop_length=256, power=1.0, n_mels=80, fmin=90, fmax=7600,
                                         pad_mode="reflect")
    db = 20 * np.log10(np.maximum(mel, 1e-5)) - 16
    np.testing.assert_allclose(feats, np.clip((db + 100) / 100, 0, 1).T, atol=1e-5)


@pytest.mark.parametrize("name, formula", [
    ("fbank", lambda n: 1 + (n - 400) // 160 if n >= 400 else 0),
    ("logmel", lambda n: 1 + n // 400),
    ("mel80", lambda n: 1 + n // 160),
    ("logfbank40", lambda n: 1 if n <= 400 else 1 + -(-(n - 400) // 160)),
    ("spectrogram", lambda n: 1 + n // 256),
    ("speechsplit", lambda n: 1 + n // 256),
    ("pitch", lambda n: 1 + n // 160),
    ("waveform", lambda n: n),
])
@pytest.mark.parametrize("n", [400, 401, 559, 560, 12345, 16000])
def test_frame_counts_match_documented_formula(name, formula, n):
    ext = get_extractor(name)
    assert ext.num_frames(n) == formula(n)
    assert ext(WAVE[:n], 16000).shape == (formula(n), ext.dims)


def test_fbank_snip_edges_false_formula():
    ext = get_extractor("fbank", {"snip_edges": False})
    for n in (400, 12345, 16000):
        assert ext(WAVE[:n], 16000).shape[0] == ext.num_frames(n) == (n + 80) // 160
    assert ext(WAVE[:399], 16000).shape[0] == ext.num_frames(399) == 0  # less than one window


def test_call_resamples_to_the_extractor_rate():
    ext = get_extractor("waveform")
    assert ext(WAVE[:8000], 8000).shape == (16000, 1)
    assert get_extractor("fbank")(WAVE[:8000], 8000).shape == (98, 80)


def test_registry_and_config_errors():
    assert parse_extractor_names("fbank+pitch") == ["fbank", "pitch"]
    with pytest.raises(SertoolError, match="unknown extractor 'mfcc'"):
        get_extractor("mfcc")
    with pytest.raises(SertoolError, match="extractor named twice"):
        parse_extractor_names("fbank+fbank")
    with pytest.raises(SertoolError, match="unknown fbank setting 'bins'"):
        get_extractor("fbank", {"bins": 40})
    with pytest.raises(SertoolError, match="fbank.num_mel_bins must be an integer"):
        get_extractor("fbank", {"num_mel_bins": "80"})
    with pytest.raises(SertoolError, match="pitch: method"):
        get_extractor("pitch", {"method": "yin"})
    assert get_extractor("fbank", {"frame_shift_ms": 20}).frame_shift == 0.02  # YAML ints are fine for floats
