"""The decomposed-speech paper's inputs: RAPT pitch, per-utterance log-F0, SpeechSplit quantisation and spectrogram.

The references here are written from SpeechSplit's released code (github auspicious3000/SpeechSplit,
``make_spect_f0.py`` and ``utils.py``), not from sertool's.
"""

from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import scipy.signal

from sertool.data.manifest import read_manifest
from sertool.features.extractors import get_extractor
from sertool.features.pipeline import extract_features
from sertool.features.storage import FeatureReader
from sertool.testing.audio import harmonic_tone, make_corpus

RAPT = {"method": "rapt", "frame_period_ms": 16.0, "normalise": "utterance"}


def rapt_pitch(gender: str | None = None, **conf: object):
    ext = get_extractor("pitch", {**RAPT, **conf})
    ext.set_gender(gender)
    return ext


# ------------------------------------------------------------------ references from the released code


def speaker_normalization(f0: np.ndarray, index_nonzero: np.ndarray, mean_f0: float, std_f0: float) -> np.ndarray:
    """utils.py's ``speaker_normalization`` (f0 is log F0, unvoiced -1e10)."""
    f0 = f0.astype(float).copy()
    f0[index_nonzero] = (f0[index_nonzero] - mean_f0) / std_f0 / 4.0
    f0[index_nonzero] = np.clip(f0[index_nonzero], -1, 1)
    f0[index_nonzero] = (f0[index_nonzero] + 1) / 2.0
    return f0


def quantize_f0_numpy(x: np.ndarray, num_bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """utils.py's ``quantize_f0_numpy``: the one-hot matrix and the bin of each frame."""
    x = x.astype(float).copy()
    uv = x <= 0
    x[uv] = 0.0
    assert (x >= 0).all() and (x <= 1).all()
    x = np.round(x * (num_bins - 1))
    x = x + 1
    x[uv] = 0.0
    enc = np.zeros((len(x), num_bins + 1), dtype=np.float32)
    enc[np.arange(len(x)), x.astype(np.int32)] = 1.0
    return enc, x.astype(np.int64)


def make_spect(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """make_spect_f0.py's spectrogram of one float64 clip (its noise from ``RandomState(seed)``),
    clipped to [0, 1] as its data loader (``MyCollator``) does."""
    mel_basis = librosa.filters.mel(sr=16000, n_fft=1024, fmin=90, fmax=7600, n_mels=80).T
    min_level = np.exp(-100 / 20 * np.log(10))
    b, a = scipy.signal.butter(5, 30 / (0.5 * 16000), btype="high", analog=False)
    if x.shape[0] % 256 == 0:
        x = np.concatenate((x, np.array([1e-06])), axis=0)
    y = scipy.signal.filtfilt(b, a, x)
    wav = y * 0.96 + (np.random.RandomState(seed).rand(y.shape[0]) - 0.5) * 1e-06
    padded = np.pad(wav, 512, mode="reflect")  # pySTFT
    shape = ((padded.shape[-1] - 768) // 256, 1024)
    step = padded.strides[-1]
    frames = np.lib.stride_tricks.as_strided(padded, shape=shape, strides=(256 * step, step))
    spec = np.abs(np.fft.rfft(scipy.signal.get_window("hann", 1024, fftbins=True) * frames, n=1024))
    db = 20 * np.log10(np.maximum(min_level, spec @ mel_basis)) - 16
    return np.clip((db + 100) / 100, 0, 1)


def random_contours(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """F0 contours in Hz (0 unvoiced) as float32, as the extractor stores them: voiced runs of a
    wandering log F0 around a random speaker mean, with octave jumps and a few frames four octaves
    down (far below the mean: the clipped end of the scale)."""
    out = []
    for _ in range(count):
        n = int(rng.integers(50, 400))
        log_f0 = np.log(rng.uniform(80, 300)) + np.cumsum(rng.normal(0, 0.03, n)) + rng.normal(0, 0.05, n)
        log_f0 += np.log(2) * rng.choice([-4, -1, 0, 1], n, p=[0.01, 0.03, 0.93, 0.03])
        voiced = rng.random(n) < 0.7
        out.append(np.where(voiced, np.exp(log_f0), 0.0).astype(np.float32))
    return out


# ------------------------------------------------------------------ RAPT


@pytest.mark.parametrize("seconds", [1.0, 0.73, 2.048])
@pytest.mark.parametrize("gender", ["F", None])
def test_rapt_reads_a_200hz_tone_as_200hz(seconds, gender):
    tone = harmonic_tone(200.0, seconds)
    feats = rapt_pitch(gender)(tone, 16000)
    assert feats.shape == (1 + tone.size // 256, 4)
    voiced = feats[:, 1] > 0
    assert voiced.mean() > 0.8
    assert np.all(np.abs(feats[voiced, 0] - 200.0) <= 5.0)
    assert np.all(feats[~voiced, 0] == 0.0)


def test_rapt_range_follows_gender():
    low, high = harmonic_tone(70.0, 1.0), harmonic_tone(400.0, 1.0)

    def read(gender, wave):
        f = rapt_pitch(gender)(wave, 16000)
        return f[f[:, 1] > 0, 0]

    # a 70 Hz voice: inside the male range (50-250 Hz), below the female one (100-600 Hz)
    assert read("M", low).size > 40 and np.all(np.abs(read("M", low) - 70.0) <= 5.0)
    assert not np.any(np.abs(read("F", low) - 70.0) <= 10.0)
    # a 400 Hz voice: inside the female range, above the male one
    assert read("F", high).size > 40 and np.all(np.abs(read("F", high) - 400.0) <= 8.0)
    assert not np.any(np.abs(read("M", high) - 400.0) <= 10.0)
    # unknown gender: the union, 50-600 Hz
    assert np.median(read(None, low)) == pytest.approx(70.0, abs=3.0)
    assert np.median(read(None, high)) == pytest.approx(400.0, abs=8.0)


def test_rapt_settings_are_checked():
    from sertool.errors import SertoolError

    with pytest.raises(SertoolError, match="whole number of samples"):
        get_extractor("pitch", {"method": "rapt", "frame_period_ms": 16.01})
    with pytest.raises(SertoolError, match="rapt_range_f"):
        get_extractor("pitch", {"method": "rapt", "rapt_range_f": [600, 100]})
    with pytest.raises(SertoolError, match="normalise must be one of speaker, utterance"):
        get_extractor("pitch", {"normalise": "global"})


# ------------------------------------------------------------------ frames


@pytest.mark.parametrize("n", [1, 255, 256, 257, 632, 633, 1024, 4096, 4097, 12345, 16000, 16128, 23552, 23553])
def test_speechsplit_and_rapt_frames_match(n):
    wave = harmonic_tone(180.0, 1.5, vibrato=20.0)[:n]
    spect, pitch = get_extractor("speechsplit"), rapt_pitch("F")
    s, p = spect(wave, 16000), pitch(wave, 16000)
    assert s.shape == (1 + n // 256, 80) and p.shape == (1 + n // 256, 4)
    assert spect.num_frames(n) == pitch.num_frames(n) == 1 + n // 256
    assert spect.frame_shift == pitch.frame_shift == 0.016


def test_speechsplit_and_rapt_frames_match_random_lengths():
    rng = np.random.default_rng(1)
    spect, pitch = get_extractor("speechsplit"), rapt_pitch()
    wave = harmonic_tone(150.0, 3.0, vibrato=30.0)
    for n in rng.integers(600, wave.size, 25):
        assert spect(wave[:n], 16000).shape[0] == pitch(wave[:n], 16000).shape[0] == 1 + n // 256


def test_rapt_frame_t_is_centred_at_t_hops():
    # 150 Hz up to sample 40 * 256, then 300 Hz: the change lands in frame 40, as in the centred STFT
    cut = 40 * 256
    wave = np.concatenate([harmonic_tone(150.0, 1.0)[:cut], harmonic_tone(300.0, 1.0, seed=1)[:16000 - cut]])
    f0 = rapt_pitch()(wave, 16000)[:, 0]
    np.testing.assert_allclose(f0[20:40], 150.0, atol=5.0)
    np.testing.assert_allclose(f0[41:55], 300.0, atol=5.0)


# ------------------------------------------------------------------ normalisation and bins


def test_per_utterance_normalisation_gives_zero_mean_voiced_log_f0():
    ext = rapt_pitch("M")
    ext.speaker_stats = np.array([10.0, 10 * np.log(100.0), 10 * np.log(100.0) ** 2 + 1.0])  # ignored
    for f0, seconds in ((110.0, 0.8), (150.0, 1.3)):
        feats = ext(harmonic_tone(f0, seconds, vibrato=15.0), 16000)
        voiced = feats[:, 1] > 0
        z = feats[voiced, 2]
        assert voiced.sum() > 30 and abs(z.mean()) < 1e-4 and abs(z.std() - 1.0) < 1e-3
        assert np.all(feats[~voiced, 2] == 0)


@pytest.mark.parametrize("normalise", ["utterance", "speaker"])
def test_bins_match_the_released_quantisation(normalise):
    ext = get_extractor("pitch", {"normalise": normalise})
    rng = np.random.default_rng(0)
    contours = random_contours(rng, 40)
    pooled = np.log(np.concatenate([c[c > 0] for c in contours]).astype(np.float64))
    stats = np.array([pooled.size, pooled.sum(), np.square(pooled).sum()])
    extremes = 0
    for f0 in contours:
        raw = np.stack([f0, f0 > 0], axis=1).astype(np.float32)
        bins = ext.finalize(raw, stats)[:, 3]
        # make_spect_f0.py: log F0 with -1e10 where unvoiced, mean and std over the voiced frames
        log_f0 = np.where(f0 > 0, np.log(np.maximum(f0, 1e-30).astype(np.float64)), -1e10)
        index_nonzero = log_f0 != -1e10
        source = log_f0[index_nonzero] if normalise == "utterance" else pooled
        norm = speaker_normalization(log_f0, index_nonzero, np.mean(source), np.std(source))
        onehot, ref = quantize_f0_numpy(norm)
        assert np.array_equal(bins.astype(np.int64), ref)
        np.testing.assert_array_equal(ext.finalize(raw, stats)[:, 3], onehot.argmax(1))
        extremes += int(np.sum(index_nonzero & (ref == 0)))
    assert extremes > 0  # the contours reach a voiced u = 0, which the released code calls bin 0


# ------------------------------------------------------------------ pipeline


def test_pipeline_rapt_by_gender_and_per_utterance(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=4, speakers=2)  # s0 male ~120 Hz, s1 female ~180 Hz
    conf = tmp_path / "conf.yaml"
    # ranges that tell the genders apart: a male range holding 120 Hz, a female one above 180 Hz
    conf.write_text("pitch: {method: rapt, frame_period_ms: 16, normalise: utterance,\n"
                    "        rapt_range_m: [60, 150], rapt_range_f: [250, 600]}\n")
    out = tmp_path / "feats"
    extract_features([manifest], out, "speechsplit+pitch", config=conf)
    spect, pitch = FeatureReader(out / "speechsplit"), FeatureReader(out / "pitch")
    assert not (out / "pitch" / "speaker_f0.json").exists()  # one pass: no speaker statistics
    saved = json.loads((out / "pitch" / ".done").read_text())
    assert saved["dims"] == 4 and saved["frame_shift"] == 0.016
    for u in read_manifest(manifest):
        s, p = spect.read(u.id), pitch.read(u.id)
        assert s.shape[0] == p.shape[0] == 1 + round(u.duration * 16000) // 256
        voiced = p[:, 1] > 0
        if u.gender == "M":
            assert voiced.sum() > 10 and abs(np.median(p[voiced, 0]) - 120.0) < 20.0
            assert abs(p[voiced, 2].mean()) < 1e-4
        else:  # 180 Hz is outside [250, 600]: RAPT never reads it
            assert not np.any(np.abs(p[voiced, 0] - 180.0) < 20.0)


# ------------------------------------------------------------------ spectrogram


@pytest.mark.parametrize("n", [12800, 12345])  # a multiple of the hop (a sample appended) and not
def test_speechsplit_spectrogram_equals_the_released_recipe(n):
    rng = np.random.default_rng(3)
    wave = (harmonic_tone(160.0, 1.0, vibrato=25.0) + 0.02 * rng.standard_normal(16000)).astype(np.float32)[:n]
    feats = get_extractor("speechsplit")(wave, 16000)
    ref = make_spect(wave.astype(np.float64))
    assert feats.shape == ref.shape == (1 + n // 256, 80)
    assert feats.std() > 0.05
    np.testing.assert_allclose(feats, ref, atol=2e-6)
    # gain and high-pass count: the plain spectrogram (no gain) reads 20 log10(1 / 0.96) dB higher
    plain = get_extractor("spectrogram")(wave, 16000)
    inside = (ref > 0.05) & (ref < 0.95)
    np.testing.assert_allclose(np.median((plain - feats)[inside]), -20 * np.log10(0.96) / 100, atol=2e-4)
