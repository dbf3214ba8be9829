"""The ``pitch`` extractor: F0 contour, voicing, normalised log-F0 and SpeechSplit pitch bins.

Columns of the stored matrix (DESIGN.md fixes the first two):

====  =====================================================================================
 0    F0 in Hz, 0 where unvoiced: pyworld ``dio`` + ``stonemask`` (default), ``harvest``, or
      RAPT (``method: rapt``, pysptk's ``rapt``, the decomposed-speech paper's tracker, see
      below); for the WORLD trackers, frames whose analysis window runs past the clip's ends
      hold the F0 of the nearest fully analysed frame (:func:`hold_clip_edges`)
 1    voiced flag, 1.0 or 0.0
 2    normalised log-F0 ``(log F0 - mean) / std``, 0 where unvoiced. ``normalise: speaker``
      (default): mean and standard deviation of log F0 over all voiced frames of that
      speaker's original (not augmented) utterances in the manifests; ``normalise: utterance``:
      over the utterance's own voiced frames, as SpeechSplit's released ``make_spect_f0.py``
 3    pitch bin as SpeechSplit's released code quantises it (``utils.py``: ``speaker_normalization``
      then ``quantize_f0_numpy``): ``u = (clip(z / norm_scale, -1, 1) + 1) / 2``, bin
      ``1 + round(u (num_bins - 1))`` when voiced and ``u > 0``, else 0, so 0..256 for the default
      256 bins; :func:`pitch_onehot` (or the ``onehot`` input transform with ``classes: 257``) turns
      it into 257 dims. ``u = 0`` (a voiced frame ``norm_scale`` deviations or more below the mean)
      is bin 0 as in the released code, whose ``x <= 0`` test marks unvoiced frames
====  =====================================================================================

With ``normalise: speaker`` the statistics need every utterance of a speaker before any can be
written, so the pipeline runs two passes: the first computes columns 0–1 into a staging area
and pools ``[count, sum, sum of squares]`` of log F0 per speaker (saved as
``speaker_f0.json``); the second adds columns 2–3 and writes the shards. ``normalise:
utterance`` needs one pass. Called directly on a clip (inference), the extractor normalises
with :attr:`PitchExtractor.speaker_stats` when set, else with the clip's own voiced frames.

**RAPT** (``method: rapt``) runs as SpeechSplit's ``make_spect_f0.py`` runs it: the clip
conditioned like its spectrogram (a 1e-6 sample appended when the clip holds a multiple of the
hop, 30 Hz order-5 zero-phase high-pass, ``* 0.96``, ``(rand - 0.5) * 1e-6`` noise: the
``rapt_*`` settings, :class:`~sertool.features.spectral.WaveConditioner`), times 32768 in
float32 (RAPT's thresholds expect 16-bit sample values), hop ``frame_period_ms`` (16 ms = 256
samples at 16 kHz), and the F0 search range by the speaker's gender in the manifest: male
50–250 Hz, female 100–600 Hz (the released code's), unknown 50–600 Hz (sertool's: the union,
so neither voice is cut off; also what a clip gets at inference). RAPT cannot analyse clips
shorter than two hops and its 7.5 ms window (633 samples at 16 kHz and hop 256): they come out
unvoiced.

Frames, ``N`` samples at ``sample_rate``: WORLD trackers ``1 + int(N / sample_rate * 1000 /
frame_period_ms)`` (pyworld's count; at 16 kHz and 10 ms, ``1 + N // 160``); RAPT ``1 + N //
hop`` with ``hop = sample_rate * frame_period_ms / 1000``. RAPT itself returns ``ceil(N / hop)``
frames; the appended sample makes that ``1 + N // hop`` for every ``N``, the count of the centred
STFT of the ``spectrogram`` and ``speechsplit`` extractors: at ``frame_period_ms: 16`` pitch
frame ``t`` is spectrogram frame ``t`` for every clip length.

Example:
    >>> t = np.arange(16000) / 16000
    >>> tone = sum(0.3 / k * np.sin(2 * np.pi * 200 * k * t) for k in (1, 2, 3)).astype(np.float32)
    >>> feats = PitchExtractor(PitchConfig())(tone, 16000)
    >>> feats.shape, round(float(np.median(feats[feats[:, 1] > 0, 0])))
    ((101, 4), 200)
    >>> pitch_onehot(feats[:, 3]).shape
    (101, 257)
    >>> rapt = PitchExtractor(PitchConfig(method="rapt", frame_period_ms=16.0, normalise="utterance"))
    >>> rapt.set_gender("F")
    >>> feats = rapt(tone, 16000)
    >>> feats.shape, round(float(np.median(feats[feats[:, 1] > 0, 0])))
    ((63, 4), 200)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from sertool.features.base import Extractor, register
from sertool.features.config import require
from sertool.features.spectral import WaveConditioner


def _pyworld():
    """pyworld, imported on first use (registering the extractor, as ``sertool infer`` does, needs none of it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyworld imports the deprecated pkg_resources
        import pyworld
    return pyworld


def _pysptk():
    """pysptk, imported on first use (as pyworld; it too imports the deprecated pkg_resources)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pysptk
    return pysptk


F0_HZ, VOICED, LOGF0_NORM, PITCH_BIN = 0, 1, 2, 3


#: F0 trackers of ``method``
METHODS = ("dio", "harvest", "rapt")
#: ``normalise`` choices: log-F0 statistics per speaker or per utterance
NORMALISE = ("speaker", "utterance")


@dataclass
class PitchConfig:
    """F0 tracker settings and the SpeechSplit quantisation (256 bins, z-score / 4 clipped to ±1).

    ``f0_floor``/``f0_ceil`` bound the WORLD trackers (``dio``, ``harvest``); RAPT's range comes
    from the speaker's gender: ``rapt_range_m``, ``rapt_range_f``, ``rapt_range_unknown`` (Hz),
    and its input conditioning from ``rapt_highpass_hz``, ``rapt_gain``, ``rapt_dither`` (module
    doc). ``rapt_voice_bias`` is RAPT's voicing bias (pysptk's default 0; positive favours voiced).
    """

    sample_rate: int = 16000
    method: str = "dio"
    frame_period_ms: float = 10.0
    f0_floor: float = 71.0
    f0_ceil: float = 800.0
    normalise: str = "speaker"
    num_bins: int = 256
    norm_scale: float = 4.0
    rapt_range_m: tuple[float, float] = (50.0, 250.0)
    rapt_range_f: tuple[float, float] = (100.0, 600.0)
    rapt_range_unknown: tuple[float, float] = (50.0, 600.0)
    rapt_voice_bias: float = 0.0
    rapt_highpass_hz: float = 30.0
    rapt_gain: float = 0.96
    rapt_dither: float = 1e-6

    @property
    def hop(self) -> int:
        """RAPT's hop in samples, ``sample_rate * frame_period_ms / 1000`` (checked to be whole)."""
        return int(round(self.sample_rate * self.frame_period_ms / 1000.0))

    def validate(self) -> None:
        require(self.method in METHODS, f"pitch: method must be one of {', '.join(METHODS)}, got {self.method!r}")
        require(self.normalise in NORMALISE,
                f"pitch: normalise must be one of {', '.join(NORMALISE)}, got {self.normalise!r}")
        require(0 < self.f0_floor < self.f0_ceil, "pitch: need 0 < f0_floor < f0_ceil")
        require(self.frame_period_ms > 0 and self.num_bins > 1 and self.norm_scale > 0,
                "pitch: frame_period_ms, num_bins and norm_scale must be positive")
        if self.method == "rapt":
            require(abs(self.hop - self.sample_rate * self.frame_period_ms / 1000.0) < 1e-6 and self.hop > 0,
                    f"pitch: RAPT needs a whole number of samples per frame, frame_period_ms "
                    f"{self.frame_period_ms:g} at {self.sample_rate} Hz is not")
            for name in ("rapt_range_m", "rapt_range_f", "rapt_range_unknown"):
                lo, hi = getattr(self, name)
                require(0 < lo < hi < self.sample_rate / 2, f"pitch: {name} must be [low, high] Hz with 0 < low < high")
            require(0 <= self.rapt_highpass_hz < self.sample_rate / 2 and self.rapt_gain > 0 and self.rapt_dither >= 0,
                    "pitch: need 0 <= rapt_highpass_hz < Nyquist, rapt_gain > 0, rapt_dither >= 0")


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
    """SpeechSplit pitch bins of normalised log-F0 ``z``: 0 unvoiced, 1..num_bins voiced (module doc, column 3).

    SpeechSplit's ``speaker_normalization`` maps ``z`` to ``u = (clip(z / 4, -1, 1) + 1) / 2`` and
    ``quantize_f0_numpy`` gives ``round(u (num_bins - 1)) + 1``, or 0 where ``u <= 0``: its test for
    unvoiced frames (marked -1e10), which also catches a voiced ``u`` of exactly 0.

    Example:
        >>> quantize_pitch(np.array([-5.0, -3.99, 0.0, 4.0, 0.5]), np.array([1, 1, 1, 1, 0])).tolist()
        [0.0, 1.0, 129.0, 256.0, 0.0]
    """
    unit = (np.clip(np.asarray(z, dtype=np.float64) / norm_scale, -1.0, 1.0) + 1.0) / 2.0
    bins = np.round(unit * (num_bins - 1)) + 1
    return np.where((np.asarray(voiced) > 0) & (unit > 0), bins, 0).astype(np.float32)


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
    """F0, voicing, normalised log-F0 and pitch bin (4 columns, see module doc)."""

    Config = PitchConfig
    resample_mode = "nearest"  # interpolating voiced flags or bins would invent values

    def __init__(self, config: PitchConfig) -> None:
        super().__init__(config)
        #: ``[count, sum, sum of squares]`` of the speaker's log F0 used by __call__, if known
        self.speaker_stats: np.ndarray | None = None
        #: the speaker's gender ('F', 'M' or None) of the clips that follow: RAPT's F0 range
        self.gender: str | None = None
        c = config
        self._condition = WaveConditioner(c.sample_rate, c.rapt_highpass_hz, gain=c.rapt_gain, dither=c.rapt_dither,
                                          append_hop=c.hop, filtfilt_padding=True) if c.method == "rapt" else None

    @property
    def needs_speaker_stats(self) -> bool:
        return self.config.normalise == "speaker"

    def set_gender(self, gender: str | None) -> None:
        self.gender = gender

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
        if self.config.method == "rapt":
            return 1 + num_samples // self.config.hop
        return 1 + int(num_samples / self.sample_rate * 1000.0 / self.config.frame_period_ms)

    def rapt_range(self) -> tuple[float, float]:
        """RAPT's F0 search range (Hz) for :attr:`gender` (make_spect_f0.py: M 50–250, F 100–600)."""
        c = self.config
        return {"M": c.rapt_range_m, "F": c.rapt_range_f}.get(self.gender or "", c.rapt_range_unknown)

    def rapt(self, wave: np.ndarray) -> np.ndarray:
        """F0 in Hz (0 unvoiced) by RAPT on the conditioned clip, ``1 + N // hop`` frames."""
        c = self.config
        assert self._condition is not None
        lo, hi = self.rapt_range()
        x = self._condition(wave).astype(np.float32) * np.float32(32768)
        count = self.num_frames(wave.size)
        # SPTK's get_f0 refuses fewer than (2 frame steps + its 7.5 ms window) of samples, computed
        # from float32 settings; asking would also print to stderr. Such clips are unvoiced.
        if x.size < (float(np.float32(c.hop / c.sample_rate)) * 2.0 + float(np.float32(0.0075))) * c.sample_rate:
            return np.zeros(count)
        f0 = _pysptk().rapt(x, c.sample_rate, c.hop, min=lo, max=hi, voice_bias=c.rapt_voice_bias, otype="f0")
        # ceil((N + appended) / hop) is 1 + N // hop: the slice and pad only guard that count
        return np.pad(f0[:count], (0, max(count - f0.size, 0))).astype(np.float64)

    def raw(self, wave: np.ndarray) -> np.ndarray:
        """Columns 0–1: F0 (Hz, 0 unvoiced) and voiced flag."""
        c = self.config
        if c.method == "rapt":
            f0 = self.rapt(wave)
            return np.stack([f0, f0 > 0], axis=1).astype(np.float32)
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
        """Add columns 2–3 using speaker ``stats`` (the clip's own when missing, empty or ``normalise: utterance``).

        As ``np.mean``/``np.std`` of SpeechSplit's ``make_spect_f0.py``: the mean and the population
        standard deviation of log F0 over voiced frames. sertool floors the deviation at 1e-3 (one
        steady pitch must not divide by zero; the released code would give NaN there).
        """
        if stats is None or stats[0] < 1 or self.config.normalise == "utterance":
            stats = self.raw_stats(raw)
        n, s, ss = (float(v) for v in stats)
        mean = s / n if n > 0 else 0.0
        std = float(np.sqrt(max(ss / n - mean * mean, 0.0))) if n > 0 else 1.0
        std = max(std, 1e-3)
        f0, voiced = raw[:, F0_HZ], raw[:, VOICED]
        z = np.where(voiced > 0, (np.log(np.maximum(f0.astype(np.float64), 1e-3)) - mean) / std, 0.0)
        bins = quantize_pitch(z, voiced, self.config.num_bins, self.config.norm_scale)
        return np.column_stack([f0, voiced, z, bins]).astype(np.float32)

    def compute(self, wave: np.ndarray) -> np.ndarray:
        return self.finalize(self.raw(wave), self.speaker_stats)
