"""Waveform augmentation for stored copies (speecheq.txt §2.5).

Each copy draws, with its own probability, a speed change (librosa time stretch, rate in
[0.8, 1.3], pitch kept), a pitch shift (librosa, [-3, 3] semitones, duration kept),
reverberation (an impulse response from ``rir_dir``, or a generated exponentially decaying
one with RT60 0.2–0.8 s) and additive noise at an SNR of 10–25 dB (a random excerpt of a file
from ``noise_dir``, or generated white/pink/brown noise). A copy for which no effect was
drawn gets one effect chosen at random, so every copy differs from the original. Effects
apply in that order: speed, pitch, reverb, then noise (noise is measured against the
processed speech).

The copy's tag names what was applied, e.g. ``"speed0.91+noise17dB"``, ``"pitch-1.5st+reverb0.4s"``,
``"rir-smallroom+noise12dB"``. Draws depend only on ``seed``, the utterance id and the copy
number, so copies are reproducible and identical for every extractor of a combined run.

With the default probabilities, ``copies=2, seed=0`` gives ``ravdess/03-01-05`` the copies
``reverb0.7s+noise24dB`` and ``speed1.27+pitch+2.8st+reverb0.4s``; the example turns speed and
pitch off to stay fast.

Example:
    >>> from sertool.testing.audio import harmonic_tone
    >>> aug = Augmenter(AugmentConfig(copies=3, seed=0, speed_prob=0.0, pitch_shift_prob=0.0))
    >>> tone = harmonic_tone(150.0, 0.5)
    >>> copies = aug.copies("ravdess/03-01-05", tone, 16000)
    >>> [(tag, wave.shape) for tag, wave in copies]
    [('reverb0.7s+noise24dB', (8000,)), ('reverb0.8s', (8000,)), ('reverb0.8s+noise12dB', (8000,))]
    >>> all(np.array_equal(a, b) for (_, a), (_, b) in zip(copies, aug.copies("ravdess/03-01-05", tone, 16000)))
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.signal
import soundfile as sf
import soxr

from sertool.errors import SertoolError
from sertool.features.config import require

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".sph")


@dataclass
class AugmentConfig:
    """How many augmented copies per utterance and the ranges/probabilities of each effect.

    ``noise_dir``/``rir_dir`` empty means generated noise / impulse responses.
    """

    copies: int = 0
    seed: int = 0
    speed: tuple[float, float] = (0.8, 1.3)
    speed_prob: float = 0.5
    pitch_shift: tuple[float, float] = (-3.0, 3.0)
    pitch_shift_prob: float = 0.5
    reverb_prob: float = 0.5
    rir_dir: str = ""
    rt60: tuple[float, float] = (0.2, 0.8)
    noise_prob: float = 0.5
    noise_snr: tuple[float, float] = (10.0, 25.0)
    noise_dir: str = ""

    def validate(self) -> None:
        require(self.copies >= 0, "augment.copies must be >= 0")
        for name in ("speed", "pitch_shift", "rt60", "noise_snr"):
            lo, hi = getattr(self, name)
            require(lo <= hi, f"augment.{name} must be [min, max]")
        require(0 < self.speed[0], "augment.speed must be positive")
        require(0 < self.rt60[0], "augment.rt60 must be positive")
        for name in ("speed_prob", "pitch_shift_prob", "reverb_prob", "noise_prob"):
            require(0.0 <= getattr(self, name) <= 1.0, f"augment.{name} must be in [0, 1]")
        for name in ("noise_dir", "rir_dir"):
            folder = getattr(self, name)
            if folder:
                require(Path(folder).is_dir(), f"augment.{name}: directory not found: {folder}")
                require(bool(audio_files(folder)), f"augment.{name}: no audio files in {folder}")


def audio_files(folder: str | Path) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted so choices are reproducible)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SertoolError(f"directory not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def read_excerpt(path: Path, num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random ``num_samples`` excerpt of ``path`` at ``sample_rate`` (looped when the file is shorter).

    Only the excerpt is read, so long noise recordings cost no memory.
    """
    try:
        info = sf.info(str(path))
        native = int(np.ceil(num_samples * info.samplerate / sample_rate)) + 16
        start = int(rng.integers(0, max(info.frames - native, 0) + 1))
        x, sr = sf.read(str(path), start=start, frames=native, dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SertoolError(f"cannot read audio file {path}: {e}") from None
    x = x.mean(axis=1)
    if x.size == 0:
        raise SertoolError(f"audio file has no samples: {path}")
    if sr != sample_rate:
        x = soxr.resample(x, sr, sample_rate, quality="HQ").astype(np.float32)
    return np.resize(x, num_samples)  # np.resize repeats the excerpt when it is too short


def coloured_noise(num_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """White, pink or brown Gaussian noise (power ∝ 1/f^β, β ∈ {0, 1, 2}) and its colour's name."""
    beta = int(rng.integers(0, 3))
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0  # keep DC finite; its weight is irrelevant after normalisation
    noise = np.fft.irfft(spectrum / f ** (beta / 2), n=num_samples)
    noise /= np.std(noise) + 1e-12
    return noise.astype(np.float32), ("white", "pink", "brown")[beta]


def add_noise(wave: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wave`` plus ``noise`` scaled to ``snr_db`` (unchanged when either is silent)."""
    p_speech, p_noise = float(np.mean(wave**2)), float(np.mean(noise**2))
    if p_speech == 0.0 or p_noise == 0.0:
        return wave
    scale = np.sqrt(p_speech / (p_noise * 10.0 ** (snr_db / 10.0)))
    return (wave + scale * noise).astype(np.float32)


def synthetic_rir(rt60: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A room impulse response: direct path then Gaussian noise decaying 60 dB over ``rt60`` s."""
    n = max(int(rt60 * sample_rate), 2)
    t = np.arange(n) / sample_rate
    h = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)  # ln(1000) = 6.908: -60 dB at rt60
    h[0] = 1.0
    return (h / np.linalg.norm(h)).astype(np.float32)


def reverberate(wave: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve with ``rir`` aligned at its strongest tap, keeping length and RMS level."""
    delay = int(np.argmax(np.abs(rir)))
    wet = scipy.signal.fftconvolve(wave, rir)[delay:delay + wave.size]
    rms_in, rms_out = np.sqrt(np.mean(wave**2)), np.sqrt(np.mean(wet**2))
    return (wet * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


class Augmenter:
    """Makes the configured number of augmented copies of a waveform."""

    def __init__(self, config: AugmentConfig) -> None:
        self.config = config
        self._noises = audio_files(config.noise_dir) if config.noise_dir else []
        self._rirs = audio_files(config.rir_dir) if config.rir_dir else []

    def copies(self, utt_id: str, wave: np.ndarray, sample_rate: int) -> list[tuple[str, np.ndarray]]:
        """``[(tag, wave), ...]`` for copies 0..copies-1 of ``utt_id`` (tags unique per utterance)."""
        out: list[tuple[str, np.ndarray]] = []
        for k in range(self.config.copies):
            rng = np.random.default_rng([self.config.seed, zlib.crc32(utt_id.encode()), k])
            tag, copy = self.one_copy(wave, sample_rate, rng)
            if any(tag == t for t, _ in out):
                tag = f"{tag}+copy{k}"  # two copies drew the same rounded parameters
            out.append((tag, copy))
        return out

    def one_copy(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        """One augmented copy and its tag."""
        c = self.config
        effects: list[tuple[float, Callable[[np.ndarray], tuple[str, np.ndarray]]]] = [
            (c.speed_prob, lambda w: self._speed(w, rng)),
            (c.pitch_shift_prob, lambda w: self._pitch(w, sample_rate, rng)),
            (c.reverb_prob, lambda w: self._reverb(w, sample_rate, rng)),
            (c.noise_prob, lambda w: self._noise(w, sample_rate, rng)),
        ]
        drawn = [rng.random() < p for p, _ in effects]
        if not any(drawn):
            usable = [i for i, (p, _) in enumerate(effects) if p > 0] or list(range(len(effects)))
            drawn[usable[int(rng.integers(len(usable)))]] = True
        tags = []
        for (_, effect), on in zip(effects, drawn):
            if on:
                tag, wave = effect(wave)
                tags.append(tag)
        return "+".join(tags), wave

    def _speed(self, wave: np.ndarray, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        import librosa

        rate = round(float(rng.uniform(*self.config.speed)), 2)
        return f"speed{rate:.2f}", librosa.effects.time_stretch(wave, rate=rate).astype(np.float32)

    def _pitch(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        import librosa

        steps = round(float(rng.uniform(*self.config.pitch_shift)), 1)
        shifted = librosa.effects.pitch_shift(wave, sr=sample_rate, n_steps=steps, res_type="soxr_hq")
        return f"pitch{steps:+.1f}st", shifted.astype(np.float32)

    def _reverb(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        if self._rirs:
            path = self._rirs[int(rng.integers(len(self._rirs)))]
            from sertool.audio import read_audio

            rir, _ = read_audio(path, sample_rate)
            return f"rir-{path.stem}", reverberate(wave, rir)
        rt60 = round(float(rng.uniform(*self.config.rt60)), 1)
        return f"reverb{rt60:.1f}s", reverberate(wave, synthetic_rir(rt60, sample_rate, rng))

    def _noise(self, wave: np.ndarray, sample_rate: int, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        snr = round(float(rng.uniform(*self.config.noise_snr)))
        if self._noises:
            noise = read_excerpt(self._noises[int(rng.integers(len(self._noises)))], wave.size, sample_rate, rng)
        else:
            noise, _ = coloured_noise(wave.size, rng)
        return f"noise{snr:d}dB", add_noise(wave, noise, snr)
