"""Spectral extractors: Kaldi filter banks, log-mel with deltas, SpeechSplit mel spectrogram.

Frame counts, with ``N`` samples after resampling to the extractor's rate:

* ``fbank``: ``snip_edges=True`` (default, Kaldi's): ``1 + (N - W) // S`` when ``N >= W``
  else 0 (refused as empty), ``W = 400``, ``S = 160`` at 16 kHz; ``snip_edges=False``:
  ``(N + S // 2) // S`` when ``N >= W`` else 0.
* ``logmel`` and ``spectrogram`` (centred STFT): ``1 + N // hop_length``.

Example:
    >>> fb = FbankExtractor(FbankConfig())
    >>> fb(np.zeros(16000, np.float32), 16000).shape
    (98, 80)
    >>> LogMelExtractor(LogMelConfig())(np.zeros(16000, np.float32), 16000).shape
    (41, 384)
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import librosa
import numpy as np
import scipy.signal
import torch
import torchaudio.compliance.kaldi as kaldi

from sertool.features.base import Extractor, register
from sertool.features.config import require


@dataclass
class FbankConfig:
    """Kaldi ``compute-fbank-feats`` settings (speecheq.txt §3.2: 80 bins, 25 ms / 10 ms, Hamming).

    ``input_scale`` multiplies the [-1, 1] samples before the transform: 32768 reproduces
    what Kaldi's binaries compute from 16-bit files (log energies shift by a constant
    otherwise). ``dither`` is 0 so features are deterministic.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    window_type: str = "hamming"
    dither: float = 0.0
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    round_to_power_of_two: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    snip_edges: bool = True
    use_energy: bool = False
    use_log_fbank: bool = True
    use_power: bool = True
    input_scale: float = 32768.0

    def validate(self) -> None:
        require(self.sample_rate > 0 and self.num_mel_bins > 0, "fbank: sample_rate and num_mel_bins must be positive")
        require(0 < self.frame_shift_ms <= self.frame_length_ms, "fbank: need 0 < frame_shift_ms <= frame_length_ms")
        require(self.window_type in ("hamming", "hanning", "povey", "rectangular", "blackman"),
                f"fbank: unknown window_type {self.window_type!r}")

    def kaldi_kwargs(self) -> dict:
        """Keyword arguments of ``torchaudio.compliance.kaldi.fbank`` for these settings."""
        return dict(
            sample_frequency=float(self.sample_rate), num_mel_bins=self.num_mel_bins,
            frame_length=self.frame_length_ms, frame_shift=self.frame_shift_ms,
            window_type=self.window_type, dither=self.dither,
            preemphasis_coefficient=self.preemphasis_coefficient, remove_dc_offset=self.remove_dc_offset,
            round_to_power_of_two=self.round_to_power_of_two, low_freq=self.low_freq,
            high_freq=self.high_freq, snip_edges=self.snip_edges, use_energy=self.use_energy,
            use_log_fbank=self.use_log_fbank, use_power=self.use_power,
        )


@register("fbank")
class FbankExtractor(Extractor):
    """Kaldi-compatible log mel filter banks via ``torchaudio.compliance.kaldi.fbank``."""

    Config = FbankConfig

    @property
    def frame_shift(self) -> float:
        return self.config.frame_shift_ms / 1000.0

    @property
    def dims(self) -> int:
        return self.config.num_mel_bins + int(self.config.use_energy)

    def num_frames(self, num_samples: int) -> int:
        c = self.config
        shift = int(c.sample_rate * c.frame_shift_ms / 1000)
        length = int(c.sample_rate * c.frame_length_ms / 1000)
        if num_samples < length:
            return 0  # torchaudio computes no frame from less than one window, whatever snip_edges says
        if c.snip_edges:
            return 1 + (num_samples - length) // shift
        return (num_samples + shift // 2) // shift

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        x = torch.from_numpy(wave * np.float32(c.input_scale)).unsqueeze(0)
        if x.shape[1] < int(c.sample_rate * c.frame_length_ms / 1000):
            return np.zeros((0, self.dims), np.float32)  # shorter than one window: no frames
        if c.dither > 0:
            # Kaldi dithers with the global torch generator; seed it from the samples so the
            # same input always gives the same features.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(zlib.crc32(wave.tobytes()))
                feats = kaldi.fbank(x, **c.kaldi_kwargs())
        else:
            feats = kaldi.fbank(x, **c.kaldi_kwargs())
        return feats.numpy()


def centred_frames(num_samples: int, hop_length: int) -> int:
    """Frames of a centred STFT (``librosa.stft(center=True)``): ``1 + N // hop``."""
    return 1 + num_samples // hop_length


def mel_power(wave: np.ndarray, basis: np.ndarray, n_fft: int, hop: int, win: int, window: str,
              pad_mode: str, power: float) -> np.ndarray:
    """Mel-scale STFT magnitudes ``|STFT|**power`` projected on ``basis``, shape ``(frames, n_mels)``."""
    with warnings.catch_warnings():
        # librosa warns when a clip is shorter than n_fft; centred padding handles that case
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        spec = np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                                   center=True, pad_mode=pad_mode))
    if power != 1.0:
        spec = spec**power
    return (basis @ spec).T


def deltas(feats: np.ndarray, window: int) -> np.ndarray:
    """Regression deltas over ``window`` frames (edges replicated), as Kaldi/HTK and torchaudio compute them.

    ``d_t = sum_n n (c_{t+n} - c_{t-n}) / (2 sum_n n^2)``, ``n = 1 .. window // 2``. Plain numpy:
    torchaudio's grouped convolution costs ~40 ms per call on short clips.
    """
    half = window // 2
    padded = np.pad(feats, ((half, half), (0, 0)), mode="edge")
    t = feats.shape[0]
    out = np.zeros_like(feats)
    for n in range(1, half + 1):
        out += n * (padded[half + n:half + n + t] - padded[half - n:half - n + t])
    return out / np.float32(2 * sum(n * n for n in range(1, half + 1)))


def add_deltas(feats: np.ndarray, window: int) -> np.ndarray:
    """Append Δ and ΔΔ to ``(T, D)`` features → ``(T, 3 D)``."""
    d1 = deltas(feats, window)
    return np.concatenate([feats, d1, deltas(d1, window)], axis=1)


@dataclass
class LogMelConfig:
    """sa_cnn_blstm.txt §4.1: 16 kHz, Hann window 800, STFT 800, hop 400, mel, log, Δ and ΔΔ.

    128 mel bands × (static, Δ, ΔΔ) = 384 = the paper's d_spec. Log is natural, floored at
    ``log_floor``; deltas use a ``delta_window``-frame regression (5 = Kaldi/HTK's N = 2).
    ``fmax`` 0 means Nyquist.
    """

    sample_rate: int = 16000
    n_fft: int = 800
    win_length: int = 800
    hop_length: int = 400
    window: str = "hann"
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 0.0
    power: float = 2.0
    log_floor: float = 1e-10
    deltas: bool = True
    delta_window: int = 5
    pad_mode: str = "constant"

    def validate(self) -> None:
        require(self.sample_rate > 0 and self.n_mels > 0 and self.hop_length > 0, "logmel: sizes must be positive")
        require(0 < self.win_length <= self.n_fft, "logmel: need 0 < win_length <= n_fft")
        require(self.log_floor > 0, "logmel: log_floor must be positive")
        require(self.delta_window >= 3 and self.delta_window % 2 == 1, "logmel: delta_window must be odd and >= 3")


@register("logmel")
class LogMelExtractor(Extractor):
    """Log mel spectrogram with optional Δ/ΔΔ (librosa STFT and Slaney mel filters)."""

    Config = LogMelConfig

    def __init__(self, config: LogMelConfig) -> None:
        super().__init__(config)
        c = config
        # The filter bank is the same for every utterance: build it once.
        self._basis = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin,
                                          fmax=c.fmax or None).astype(np.float32)

    @property
    def frame_shift(self) -> float:
        return self.config.hop_length / self.config.sample_rate

    @property
    def dims(self) -> int:
        return self.config.n_mels * (3 if self.config.deltas else 1)

    def num_frames(self, num_samples: int) -> int:
        return centred_frames(num_samples, self.config.hop_length)

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        mel = mel_power(wave, self._basis, c.n_fft, c.hop_length, c.win_length, c.window, c.pad_mode, c.power)
        logmel = np.log(np.maximum(mel, c.log_floor)).astype(np.float32)
        return add_deltas(logmel, c.delta_window) if c.deltas else logmel


@dataclass
class SpectrogramConfig:
    """The SpeechSplit mel spectrogram fed to the decomposition model (decomposed_speech_mtl.txt §2.1–2.2).

    SpeechSplit's recipe: 30 Hz order-5 Butterworth high-pass (zero phase), STFT 1024 / hop
    256 / Hann 1024 with reflect padding, magnitude, 80 Slaney mel bands 90–7600 Hz, then
    ``dB = 20 log10(max(mel, 10^(min_level_db/20))) - ref_level_db`` and, with ``normalize``,
    ``clip((dB - min_level_db) / -min_level_db, 0, 1)``. ``highpass_hz`` 0 turns the filter off.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 256
    window: str = "hann"
    n_mels: int = 80
    fmin: float = 90.0
    fmax: float = 7600.0
    highpass_hz: float = 30.0
    highpass_order: int = 5
    min_level_db: float = -100.0
    ref_level_db: float = 16.0
    normalize: bool = True
    pad_mode: str = "reflect"

    def validate(self) -> None:
        require(self.sample_rate > 0 and self.n_mels > 0 and self.hop_length > 0, "spectrogram: sizes must be positive")
        require(0 < self.win_length <= self.n_fft, "spectrogram: need 0 < win_length <= n_fft")
        require(self.min_level_db < 0, "spectrogram: min_level_db must be negative")
        require(0 <= self.highpass_hz < self.sample_rate / 2, "spectrogram: highpass_hz must be below Nyquist")


@register("spectrogram")
class SpectrogramExtractor(Extractor):
    """SpeechSplit-style normalised dB mel spectrogram in [0, 1]."""

    Config = SpectrogramConfig

    def __init__(self, config: SpectrogramConfig) -> None:
        super().__init__(config)
        c = config
        self._basis = librosa.filters.mel(sr=c.sample_rate, n_fft=c.n_fft, n_mels=c.n_mels, fmin=c.fmin,
                                          fmax=c.fmax or None).astype(np.float32)
        self._sos = (scipy.signal.butter(c.highpass_order, c.highpass_hz, btype="highpass", fs=c.sample_rate,
                                         output="sos") if c.highpass_hz > 0 else None)

    @property
    def frame_shift(self) -> float:
        return self.config.hop_length / self.config.sample_rate

    @property
    def dims(self) -> int:
        return self.config.n_mels

    def num_frames(self, num_samples: int) -> int:
        return centred_frames(num_samples, self.config.hop_length)

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        if self._sos is not None:
            # Zero-phase filtering needs the signal longer than its edge padding; shorten
            # the padding for very short clips instead of failing.
            padlen = min(3 * (2 * len(self._sos) + 1), len(wave) - 1)
            wave = scipy.signal.sosfiltfilt(self._sos, wave, padlen=max(padlen, 0)).astype(np.float32)
        # reflect padding needs more samples than n_fft // 2; fall back to zeros for tiny clips
        pad_mode = c.pad_mode if len(wave) > c.n_fft // 2 else "constant"
        mel = mel_power(wave, self._basis, c.n_fft, c.hop_length, c.win_length, c.window, pad_mode, 1.0)
        db = 20.0 * np.log10(np.maximum(mel, 10.0 ** (c.min_level_db / 20.0))) - c.ref_level_db
        if c.normalize:
            db = np.clip((db - c.min_level_db) / -c.min_level_db, 0.0, 1.0)
        return db.astype(np.float32)
