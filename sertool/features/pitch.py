"""The ``pitch`` extractor: F0 contour, voicing, speaker-normalised log-F0 and SpeechSplit pitch bins.

Columns of the stored matrix (DESIGN.md fixes the first two):

====  =====================================================================================
 0    F0 in Hz, 0 where unvoiced (pyworld ``dio`` + ``stonemask`` by default, ``harvest``
      as an option); frames whose analysis window runs past the clip's ends hold the F0
      of the nearest fully analysed frame (:func:`hold_clip_edges`)
 1    voiced flag, 1.0 or 0.0
 2    log-F0 normalised per speaker: ``(log F0 - mean) / std`` with the mean and standard
      deviation of log F0 over all voiced frames of that speaker's original (not augmented)
      utterances in the manifests; 0 where unvoiced
 3    quantised pitch bin as used by SpeechSplit's one-hot pitch encoder: 0 = unvoiced,
      ``1 + round((clip(z / norm_scale, -1, 1) + 1) / 2 * (num_bins - 1))`` when voiced,
      so 1..256 for the default 256 bins; :func:`pitch_onehot` turns it into 257 dims
====  =====================================================================================

Speaker statistics need every utterance of a speaker before any can be written, so the
pipeline runs two passes: the first computes columns 0–1 into a staging area and pools
``[count, sum, sum of squares]`` of log F0 per speaker (saved as ``speaker_f0.json``); the
second adds columns 2–3 and writes the shards. Called directly on a clip (inference), the
extractor normalises with :attr:`PitchExtractor.speaker_stats` when set, else with the
clip's own voiced frames.

Frames: ``1 + int(N / sample_rate * 1000 / frame_period_ms)`` (pyworld's count; at 16 kHz
and 10 ms, ``1 + N // 160``).

Example:
    >>> t = np.arange(16000) / 16000
    >>> tone = sum(0.3 / k * np.sin(2 * np.pi * 200 * k * t) for k in (1, 2, 3)).astype(np.float32)
    >>> feats = PitchExtractor(PitchConfig())(tone, 16000)
    >>> feats.shape, round(float(np.median(feats[feats[:, 1] > 0, 0])))
    ((101, 4), 200)
    >>> pitch_onehot(feats[:, 3]).shape
    (101, 257)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sertool.features.base import Extractor, register
from sertool.features.config import require


def _pyworld():
    """pyworld, imported on first use (registering the extractor, as ``sertool infer`` does, needs none of it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
        import pyworld
    return pyworld

F0_HZ, VOICED, LOGF0_NORM, PITCH_BIN = 0, 1, 2, 3


@dataclass
class PitchConfig:
    """pyworld F0 settings and the SpeechSplit quantisation (256 bins, z-score / 4 clipped to ±1)."""

    sample_rate: int = 16000
    method: str = "dio"
    frame_period_ms: float = 10.0
    f0_floor: float = 71.0
    f0_ceil: float = 800.0
    num_bins: int = 256
    norm_scale: float = 4.0

    def validate(self) -> None:
        require(self.method in ("dio", "harvest"), f"pitch: method must be 'dio' or 'harvest', got {self.method!r}")
        require(0 < self.f0_floor < self.f0_ceil, "pitch: need 0 < f0_floor < f0_ceil")
        require(self.frame_period_ms > 0 and self.num_bins > 1 and self.norm_scale > 0,
                "pitch: frame_period_ms, num_bins and norm_scale must be positive")


def hold_clip_edges(f0: np.ndarray, frame_period_s: float, duration_s: float) -> np.ndarray:
    """Replace F0 at frames whose analysis window (±1.5 periods) runs past either end of the clip.

    WORLD refines F0 over about three periods around each frame; at the first and last frames
    part of that window lies outside the signal and the estimate drifts (a 200 Hz tone reads
    189 Hz on its last frame). Such frames take the F0 of the nearest fully analysed frame of
    the same voiced run, as delta features replicate edge frames.
    """
    f0 = f0.copy()
    t = np.arange(f0.size) * frame_period_s
    voiced = f0 > 0
    half_window = 1.5 / np.where(voiced, f0, np.inf)
    truncated = voiced & ((t - half_window < 0) | (t + half_window > duration_s))
    reliable = np.flatnonzero(voiced & ~truncated)
    for i in np.flatnonzero(truncated):
        if reliable.size == 0:
            break
        j = reliable[np.argmin(np.abs(reliable - i))]
        lo, hi = min(i, j), max(i, j)
        if voiced[lo:hi + 1].all():  # only within one voiced run
            f0[i] = f0[j]
    return f0


def log_f0_stats(f0: np.ndarray) -> np.ndarray:
    """``[count, sum, sum of squares]`` (float64) of log F0 over voiced (F0 > 0) frames."""
    lf = np.log(f0[f0 > 0].astype(np.float64))
    return np.array([lf.size, lf.sum(), np.square(lf).sum()])


def quantize_pitch(z: np.ndarray, voiced: np.ndarray, num_bins: int = 256, norm_scale: float = 4.0) -> np.ndarray:
    """SpeechSplit pitch bins: 0 unvoiced, 1..num_bins for z-scores mapped from [-norm_scale, norm_scale]."""
    unit = (np.clip(z / norm_scale, -1.0, 1.0) + 1.0) / 2.0
    bins = np.rint(unit * (num_bins - 1)) + 1
    return np.where(voiced > 0, bins, 0).astype(np.float32)


def pitch_onehot(bins: np.ndarray, num_bins: int = 256) -> np.ndarray:
    """One-hot ``(frames, num_bins + 1)`` float32 of a bin column (index 0 = unvoiced).

    Example:
        >>> pitch_onehot(np.array([0, 1, 256])).argmax(1)
        array([  0,   1, 256])
    """
    idx = np.asarray(bins).reshape(-1).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() > num_bins):
        raise ValueError(f"pitch bins must lie in [0, {num_bins}], got {idx.min()}..{idx.max()}")
    out = np.zeros((idx.size, num_bins + 1), np.float32)
    out[np.arange(idx.size), idx] = 1.0
    return out


@register("pitch")
class PitchExtractor(Extractor):
    """F0, voicing, per-speaker log-F0 z-score and pitch bin (4 columns, see module doc)."""

    Config = PitchConfig
    needs_speaker_stats = True
    resample_mode = "nearest"  # interpolating voiced flags or bins would invent values

    def __init__(self, config: PitchConfig) -> None:
        super().__init__(config)
        #: ``[count, sum, sum of squares]`` of the speaker's log F0 used by __call__, if known
        self.speaker_stats: np.ndarray | None = None

    @property
    def frame_shift(self) -> float:
        return self.config.frame_period_ms / 1000.0

    @property
    def dims(self) -> int:
        return 4

    @property
    def raw_dims(self) -> int:
        return 2

    def num_frames(self, num_samples: int) -> int:
        return 1 + int(num_samples / self.sample_rate * 1000.0 / self.config.frame_period_ms)

    def raw(self, wave: np.ndarray) -> np.ndarray:
        """Columns 0–1: F0 (Hz, 0 unvoiced) and voiced flag."""
        c = self.config
        x = wave.astype(np.float64)
        pyworld = _pyworld()
        if c.method == "dio":
            f0, t = pyworld.dio(x, c.sample_rate, f0_floor=c.f0_floor, f0_ceil=c.f0_ceil,
                                frame_period=c.frame_period_ms)
            f0 = pyworld.stonemask(x, f0, t, c.sample_rate)
        else:
            f0, _ = pyworld.harvest(x, c.sample_rate, f0_floor=c.f0_floor, f0_ceil=c.f0_ceil,
                                    frame_period=c.frame_period_ms)
        f0 = hold_clip_edges(f0, c.frame_period_ms / 1000.0, x.size / c.sample_rate)
        return np.stack([f0, f0 > 0], axis=1).astype(np.float32)

    def raw_stats(self, raw: np.ndarray) -> np.ndarray:
        return log_f0_stats(raw[:, F0_HZ])

    def finalize(self, raw: np.ndarray, stats: np.ndarray | None) -> np.ndarray:
        """Add columns 2–3 using speaker ``stats`` (the clip's own when missing or empty)."""
        if stats is None or stats[0] < 1:
            stats = self.raw_stats(raw)
        n, s, ss = (float(v) for v in stats)
        mean = s / n if n > 0 else 0.0
        std = float(np.sqrt(max(ss / n - mean * mean, 0.0))) if n > 0 else 1.0
        std = max(std, 1e-3)  # a speaker with one steady pitch must not divide by zero
        f0, voiced = raw[:, F0_HZ], raw[:, VOICED]
        z = np.where(voiced > 0, (np.log(np.maximum(f0, 1e-3)) - mean) / std, 0.0)
        bins = quantize_pitch(z, voiced, self.config.num_bins, self.config.norm_scale)
        return np.column_stack([f0, voiced, z, bins]).astype(np.float32)

    def compute(self, wave: np.ndarray) -> np.ndarray:
        return self.finalize(self.raw(wave), self.speaker_stats)
