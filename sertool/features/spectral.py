"""Spectral extractors: Kaldi filter banks, log-mel with deltas, the papers' own filter banks,
SpeechSplit mel spectrogram.

- ``fbank``: Kaldi's ``compute-fbank-feats`` (torchaudio's ``kaldi.fbank``).
- ``logmel``: librosa-style log mel with Δ/ΔΔ, sa_cnn_blstm.txt §4.1's 384 dimensions.
- ``mel80``: SpeechEQ's input (speecheq.txt §3.2): 80 mel bands computed like
  ``librosa.feature.melspectrogram`` with 25 ms Hamming frames (``n_fft`` 400) every 10 ms, logged.
- ``logfbank40``: selective MTL's input (selective_mtl.txt §4.1): python_speech_features'
  ``logfbank`` with 40 filters and its defaults (no window, ``nfft`` 512, pre-emphasis 0.97).
- ``spectrogram``: the SpeechSplit mel spectrogram of the decomposed-speech model.
- ``speechsplit``: the same with everything SpeechSplit's released ``make_spect_f0.py`` does to
  the waveform first (decomposed_speech_mtl.txt §2.1, :class:`SpeechSplitConfig`).

Frame counts, with ``N`` samples after resampling to the extractor's rate:

* ``fbank``: ``snip_edges=True`` (default, Kaldi's): ``1 + (N - W) // S`` when ``N >= W``
  else 0 (refused as empty), ``W = 400``, ``S = 160`` at 16 kHz; ``snip_edges=False``:
  ``(N + S // 2) // S`` when ``N >= W`` else 0.
* ``logmel``, ``mel80``, ``spectrogram`` and ``speechsplit`` (centred STFT): ``1 + N // hop_length``.
* ``logfbank40`` (python_speech_features' framing, the last frame zero-padded):
  ``1 + ceil((N - W) / S)`` when ``N > W`` else 1.

Example:
    >>> fb = FbankExtractor(FbankConfig())
    >>> fb(np.zeros(16000, np.float32), 16000).shape
    (98, 80)
    >>> LogMelExtractor(LogMelConfig())(np.zeros(16000, np.float32), 16000).shape
    (41, 384)
    >>> Mel80Extractor(Mel80Config())(np.zeros(16000, np.float32), 16000).shape
    (101, 80)
    >>> LogFbankExtractor(LogFbankConfig())(np.zeros(16000, np.float32), 16000).shape
    (99, 40)
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sertool.features.base import Extractor, register
from sertool.features.config import require


@dataclass
class FbankConfig:
    """Kaldi ``compute-fbank-feats`` settings (speecheq.txt §3.2: 80 bins, 25 ms / 10 ms, Hamming).

    ``input_scale`` multiplies the [-1, 1] samples before the transform: 32768 reproduces
    what Kaldi's binaries compute from 16-bit files (log energies shift by a constant
    otherwise). ``dither`` is 0 so features are deterministic. ``raw_energy`` and
    ``energy_floor`` (torchaudio's defaults) only matter with ``use_energy``.
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
    raw_energy: bool = True
    energy_floor: float = 1.0
    use_log_fbank: bool = True
    use_power: bool = True
    input_scale: float = 32768.0

    def validate(self) -> None:
        require(self.sample_rate > 0 and self.num_mel_bins > 0, "fbank: sample_rate and num_mel_bins must be positive")
        require(0 < self.frame_shift_ms <= self.frame_length_ms, "fbank: need 0 < frame_shift_ms <= frame_length_ms")
        require(0.0 <= self.preemphasis_coefficient <= 1.0, "fbank: preemphasis_coefficient must be in [0, 1]")
        require(self.window_type in ("hamming", "hanning", "povey", "rectangular", "blackman"),
                f"fbank: unknown window_type {self.window_type!r}")

    def kaldi_kwargs(self) -> dict:
        """Keyword arguments of ``torchaudio.compliance.kaldi.fbank`` for these settings."""
        return {
            "sample_frequency": float(self.sample_rate), "num_mel_bins": self.num_mel_bins,
            "frame_length": self.frame_length_ms, "frame_shift": self.frame_shift_ms,
            "window_type": self.window_type, "dither": self.dither,
            "preemphasis_coefficient": self.preemphasis_coefficient, "remove_dc_offset": self.remove_dc_offset,
            "round_to_power_of_two": self.round_to_power_of_two, "low_freq": self.low_freq,
            "high_freq": self.high_freq, "snip_edges": self.snip_edges, "use_energy": self.use_energy,
            "raw_energy": self.raw_energy, "energy_floor": self.energy_floor, "use_log_fbank": self.use_log_fbank,
            "use_power": self.use_power,
        }


def rfft_power(frames: np.ndarray, n_fft: int, power: float = 2.0) -> np.ndarray:
    """``|rfft(row, n_fft)| ** power`` of each row of float32 ``frames``, shape ``(T, n_fft // 2 + 1)``.

    The transform is torch's, in float32: the one ``torchaudio.compliance.kaldi`` uses, so
    Kaldi filter banks agree with torchaudio's to float32 rounding. Rows shorter than ``n_fft``
    are zero-padded.
    """
    spec = torch.view_as_real(torch.fft.rfft(torch.from_numpy(frames), n=n_fft)).numpy()
    out = np.square(spec[..., 0])
    out += np.square(spec[..., 1])
    if power == 2.0:
        return out
    return np.sqrt(out) if power == 1.0 else out ** np.float32(power / 2.0)


def frames_view(wave: np.ndarray, length: int, shift: int) -> np.ndarray:
    """Read-only ``(1 + (N - length) // shift, length)`` view of overlapping frames (no copy)."""
    count = 1 + (wave.size - length) // shift
    return np.lib.stride_tricks.as_strided(wave, (count, length), (wave.strides[0] * shift, wave.strides[0]),
                                           writeable=False)


@register("fbank")
class FbankExtractor(Extractor):
    """Kaldi-compatible log mel filter banks, equal to ``torchaudio.compliance.kaldi.fbank``.

    Same steps, order and float32 arithmetic as torchaudio (frames, dither, DC removal, raw
    energy, pre-emphasis, window, zero padding, power spectrum, Kaldi mel banks, log), but the
    window and mel banks are built once instead of per call and the framing runs in numpy:
    about 2–3× faster than calling ``kaldi.fbank`` per utterance.
    """

    Config = FbankConfig

    def __init__(self, config: FbankConfig) -> None:
        super().__init__(config)
        c = config
        self._shift = int(c.sample_rate * c.frame_shift_ms / 1000)
        self._length = int(c.sample_rate * c.frame_length_ms / 1000)
        self._n_fft = 1 << (self._length - 1).bit_length() if c.round_to_power_of_two else self._length
        require(self._length >= 2 and self._n_fft % 2 == 0,
                "fbank: the (padded) window must be an even number of samples >= 2")
        self._window = window_function(c.window_type, self._length)
        import torchaudio.compliance.kaldi as kaldi  # here: importing torchaudio costs every `sertool infer` 0.15 s

        banks, _ = kaldi.get_mel_banks(c.num_mel_bins, self._n_fft, float(c.sample_rate), c.low_freq, c.high_freq,
                                       100.0, -500.0, 1.0)  # VTLN settings are unused without warping
        # Kaldi's banks cover n_fft / 2 bins; the Nyquist bin gets weight 0
        self._banks_t = np.ascontiguousarray(np.pad(banks.numpy(), ((0, 0), (0, 1))).T, dtype=np.float32)

    @property
    def frame_shift(self) -> float:
        return self.config.frame_shift_ms / 1000.0

    @property
    def dims(self) -> int:
        return self.config.num_mel_bins + int(self.config.use_energy)

    def num_frames(self, num_samples: int) -> int:
        if num_samples < self._length:
            return 0  # Kaldi computes no frame from less than one window, whatever snip_edges says
        if self.config.snip_edges:
            return 1 + (num_samples - self._length) // self._shift
        return (num_samples + self._shift // 2) // self._shift

    def _signal(self, x: np.ndarray) -> np.ndarray:
        """What Kaldi frames: the samples (``snip_edges``) or the samples with reflected edges."""
        if self.config.snip_edges:
            return x
        pad = self._length // 2 - self._shift // 2
        # Kaldi reflects including the edge sample ([2 1 0 | 0 1 2]); the right side always
        # gets the whole reversed signal, enough for any frame count
        return np.concatenate([x[:pad][::-1], x, x[::-1]]) if pad > 0 else np.concatenate([x[-pad:], x[::-1]])

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        if wave.size < self._length:
            return np.zeros((0, self.dims), np.float32)  # shorter than one window: no frames
        signal = torch.from_numpy(self._signal(wave * np.float32(c.input_scale)))
        frames = signal.unfold(0, self._length, self._shift)[:self.num_frames(wave.size)]
        # dither and DC removal in torch, on a view shaped like torchaudio's: the same reduction
        # order gives the same frame means to the last bit (numpy's differ in the last bits, which
        # the pre-emphasis and the FFT amplify to ~3e-4 in weak low-frequency bins)
        if c.dither > 0:
            # Kaldi dithers with Gaussian noise; seed it from the samples so the same input
            # always gives the same features (and the global torch generator is left alone)
            gen = torch.Generator().manual_seed(zlib.crc32(wave.tobytes()))
            frames = frames + torch.randn(frames.shape, generator=gen) * c.dither
        if c.remove_dc_offset:
            frames = frames - frames.mean(dim=1, keepdim=True)
        frames = frames.numpy()
        if c.use_energy and c.raw_energy:
            energy = log_energy(frames, c.energy_floor)
        # pre-emphasis x[j] - k x[j-1] (x[-1] = x[0]) and window, written into the zero-padded
        # FFT buffer; the order of float32 operations is torchaudio's
        buf = np.zeros((frames.shape[0], self._n_fft), np.float32)
        body = buf[:, :self._length]
        k = np.float32(c.preemphasis_coefficient)
        if k != 0:
            np.multiply(frames[:, :-1], k, out=body[:, 1:])
            np.subtract(frames[:, 1:], body[:, 1:], out=body[:, 1:])
            body[:, 0] = frames[:, 0] - k * frames[:, 0]
        else:
            body[...] = frames
        body *= self._window
        if c.use_energy and not c.raw_energy:
            energy = log_energy(buf, c.energy_floor)
        mel = rfft_power(buf, self._n_fft, 2.0 if c.use_power else 1.0) @ self._banks_t
        if c.use_log_fbank:
            mel = np.log(np.maximum(mel, FLOAT32_EPS))
        return np.concatenate([energy[:, None], mel], axis=1) if c.use_energy else mel


FLOAT32_EPS = np.finfo(np.float32).eps  # Kaldi's floor before taking logs


def log_energy(frames: np.ndarray, energy_floor: float) -> np.ndarray:
    """Kaldi's per-frame log energy ``log(max(sum x^2, eps))``, floored at ``log(energy_floor)`` when > 0."""
    energy = np.log(np.maximum(np.einsum("ij,ij->i", frames, frames), FLOAT32_EPS))
    return np.maximum(energy, np.float32(np.log(energy_floor))) if energy_floor > 0 else energy


def window_function(window_type: str, length: int) -> np.ndarray:
    """Kaldi's analysis windows (symmetric), float32, as ``torchaudio.compliance.kaldi`` builds them."""
    if window_type == "hamming":
        w = torch.hamming_window(length, periodic=False, alpha=0.54, beta=0.46)
    elif window_type == "hanning":
        w = torch.hann_window(length, periodic=False)
    elif window_type == "povey":
        w = torch.hann_window(length, periodic=False).pow(0.85)
    elif window_type == "rectangular":
        w = torch.ones(length)
    else:  # blackman, Kaldi's coefficients (not torch.blackman_window's)
        n = torch.arange(length, dtype=torch.float32)
        a = 2 * np.pi / (length - 1)
        w = 0.42 - 0.5 * torch.cos(a * n) + 0.08 * torch.cos(2 * a * n)
    return w.numpy().astype(np.float32)


# Periodic ("DFT-even") cosine windows as scipy.signal.get_window(name, M, fftbins=True) computes them.
# Each is scipy's general_hamming(alpha): coefficients alpha and 1 - alpha (0.45999999999999996 for 0.54).
_COSINE_WINDOWS = {"hann": 0.5, "hamming": 0.54}


def stft_window(name: str, length: int) -> np.ndarray:
    """The periodic analysis window ``name`` (float64), what ``librosa.filters.get_window`` returns.

    Hann and Hamming are computed here with scipy's arithmetic (the same floats); other names are
    asked of librosa. Neither librosa nor scipy.signal is imported for the usual windows: together
    they take seconds to import, which every ``sertool infer`` would pay.

    Example:
        >>> stft_window("hann", 4).tolist()
        [0.0, 0.5, 1.0, 0.5]
    """
    if name not in _COSINE_WINDOWS or length <= 1:
        import librosa

        return librosa.filters.get_window(name, length, fftbins=True)
    fac = np.linspace(-np.pi, np.pi, length + 1, dtype=np.float64)
    w = np.zeros(length + 1, dtype=np.float64)
    alpha = _COSINE_WINDOWS[name]
    for k, a in enumerate((alpha, 1.0 - alpha)):
        w += a * np.cos(k * fac)
    return w[:-1]


def _hz_to_slaney_mel(hz: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    mels = hz / f_sp
    log_t = hz >= min_log_hz
    mels[log_t] = min_log_hz / f_sp + np.log(hz[log_t] / min_log_hz) / (np.log(6.4) / 27.0)
    return mels


def _slaney_mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    freqs = f_sp * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(np.log(6.4) / 27.0 * (mels[log_t] - min_log_mel))
    return freqs


def slaney_mel(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Slaney's mel filter bank ``(n_mels, 1 + n_fft // 2)`` float32: ``librosa.filters.mel``'s, float for float.

    The same steps in the same order as librosa (``htk=False``, ``norm="slaney"``), without
    importing it (see :func:`stft_window`); the tests compare the two bit for bit.

    Example:
        >>> basis = slaney_mel(16000, 512, 40)
        >>> basis.shape, basis.dtype, int(basis.argmax(1)[0]), int(basis.argmax(1)[-1])
        ((40, 257), dtype('float32'), 2, 237)
    """
    fmax = float(sample_rate) / 2 if fmax is None else fmax
    weights = np.zeros((int(n_mels), int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sample_rate)
    lo, hi = _hz_to_slaney_mel(np.asarray([fmin], dtype=float)), _hz_to_slaney_mel(np.asarray([fmax], dtype=float))
    mel_f = _slaney_mel_to_hz(np.linspace(lo[0], hi[0], int(n_mels) + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(int(n_mels)):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2: int(n_mels) + 2] - mel_f[: int(n_mels)])
    weights *= enorm[:, np.newaxis]
    return weights


def require_stft(c: Any, name: str) -> None:
    """Checks shared by the configs of :class:`MelStftExtractor` subclasses."""
    require(c.sample_rate > 0 and c.n_mels > 0 and c.hop_length > 0, f"{name}: sizes must be positive")
    require(0 < c.win_length <= c.n_fft, f"{name}: need 0 < win_length <= n_fft")


class MelStftExtractor(Extractor):
    """Base of the mel extractors on a centred STFT (``logmel``, ``spectrogram``).

    Framing and padding are librosa's (``center=True``: ``1 + N // hop_length`` frames), the
    transform is float32 (torch's FFT), the filter bank Slaney's: :meth:`mel_spectrum` equals
    ``librosa.feature.melspectrogram`` up to float32 rounding (librosa transforms in float64;
    logs agree to 1e-4 except in bins 70 dB or more below their frame's peak) at about twice its
    speed. The config provides ``sample_rate, n_fft, win_length, hop_length, window, n_mels,
    fmin, fmax`` (0 = Nyquist) and ``pad_mode``; window and filter bank are built once.

    Example:
        >>> LogMelExtractor(LogMelConfig()).mel_spectrum(np.zeros(72000, np.float32), 2.0).shape
        (181, 128)
    """

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        c = config
        # the window centred in the FFT frame, as librosa.util.pad_center places it (that module
        # is not used: importing it compiles numba kernels, about 12 s once per environment)
        left = (c.n_fft - c.win_length) // 2
        self._window = np.pad(stft_window(c.window, c.win_length),
                              (left, c.n_fft - c.win_length - left)).astype(np.float32)
        basis = slaney_mel(c.sample_rate, c.n_fft, c.n_mels, c.fmin, c.fmax or None)
        self._basis_t = np.ascontiguousarray(basis.T, dtype=np.float32)

    @property
    def frame_shift(self) -> float:
        return self.config.hop_length / self.config.sample_rate

    def num_frames(self, num_samples: int) -> int:
        return 1 + num_samples // self.config.hop_length

    def mel_spectrum(self, wave: np.ndarray, power: float) -> np.ndarray:
        """``|STFT| ** power`` of ``wave`` on the mel filter bank, shape ``(1 + N // hop_length, n_mels)``."""
        c = self.config
        half = c.n_fft // 2
        # reflect padding needs more samples than n_fft // 2: tiny clips are zero-padded instead
        mode = c.pad_mode if wave.size > half else "constant"
        frames = frames_view(np.pad(wave, half, mode=mode), c.n_fft, c.hop_length) * self._window
        return rfft_power(frames, c.n_fft, power) @ self._basis_t


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
        require_stft(self, "logmel")
        require(self.log_floor > 0, "logmel: log_floor must be positive")
        require(self.delta_window >= 3 and self.delta_window % 2 == 1, "logmel: delta_window must be odd and >= 3")


@register("logmel")
class LogMelExtractor(MelStftExtractor):
    """Log mel spectrogram with optional Δ/ΔΔ (librosa's centred STFT framing and Slaney mel filters)."""

    Config = LogMelConfig

    @property
    def dims(self) -> int:
        return self.config.n_mels * (3 if self.config.deltas else 1)

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        logmel = np.log(np.maximum(self.mel_spectrum(wave, c.power), np.float32(c.log_floor)))
        return add_deltas(logmel, c.delta_window) if c.deltas else logmel


@dataclass
class Mel80Config(LogMelConfig):
    """SpeechEQ's input (speecheq.txt §3.2): "the 80-dimensional Mel Filter-Banks feature extracted
    using the librosa package with frame size 25ms, hop size 10ms with Hamming window" at 16 kHz.

    ``librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, window="hamming",
    n_mels=80)``: librosa's frame is its ``n_fft`` (``win_length`` defaults to it), so 25 ms is
    ``n_fft`` 400, not Kaldi's 512-point FFT of a 400-sample window (``fbank``). The rest is
    librosa's default and unstated in the paper (docs/protocols.md, speecheq): centred frames with
    zero padding, Slaney mel bands 0 Hz – Nyquist, power spectrum, natural log floored at
    ``log_floor``, no deltas.
    """

    n_fft: int = 400
    win_length: int = 400
    hop_length: int = 160
    window: str = "hamming"
    n_mels: int = 80
    deltas: bool = False


@register("mel80")
class Mel80Extractor(LogMelExtractor):
    """SpeechEQ's librosa log mel filter bank: 80 bands, 25 ms Hamming frames every 10 ms."""

    Config = Mel80Config


def hz_to_htk_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK's mel scale, ``2595 log10(1 + f / 700)`` (python_speech_features' ``hz2mel``)."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def htk_mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_htk_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def bin_filterbank(nfilt: int, nfft: int, sample_rate: int, low_hz: float, high_hz: float) -> np.ndarray:
    """python_speech_features' ``get_filterbanks``: ``(nfilt, nfft // 2 + 1)`` triangles whose corners
    are FFT bins ``floor((nfft + 1) f / sr)`` of ``nfilt + 2`` points evenly spaced in HTK mel.

    Example:
        >>> fb = bin_filterbank(40, 512, 16000, 0.0, 8000.0)
        >>> fb.shape, float(fb.max()), int((fb.sum(axis=0) > 0).sum())
        ((40, 257), 1.0, 255)
    """
    corners = np.floor((nfft + 1) * htk_mel_to_hz(np.linspace(hz_to_htk_mel(low_hz), hz_to_htk_mel(high_hz),
                                                                 nfilt + 2)) / sample_rate)
    bank = np.zeros((nfilt, nfft // 2 + 1))
    bins = np.arange(nfft // 2 + 1)
    for j in range(nfilt):
        left, centre, right = corners[j:j + 3]
        rising = (bins >= left) & (bins < centre)
        falling = (bins >= centre) & (bins < right)
        bank[j, rising] = (bins[rising] - left) / (centre - left)
        bank[j, falling] = (right - bins[falling]) / (right - centre)
    return bank


@dataclass
class LogFbankConfig:
    """Selective MTL's input (selective_mtl.txt §4.1): "a 40-channel log mel-scale filter bank
    ... using python_speech_features", i.e. its ``logfbank(signal, samplerate, nfilt=40)`` with
    every other argument at its default: 25 ms frames every 10 ms, the last one zero-padded; no
    window (rectangular); pre-emphasis 0.97 over the whole signal; power spectrum
    ``|rfft(frame, 512)|² / 512``; HTK-mel triangles on FFT bins from ``lowfreq`` 0 Hz to
    ``highfreq`` (0 = Nyquist); exact zeros replaced by float64's eps; natural log.

    ``input_scale`` multiplies the [-1, 1] samples first: 32768 gives what the package computes
    from 16-bit WAV files read with ``scipy.io.wavfile`` as its documentation does (integer
    sample values); the paper does not say (docs/protocols.md, selective_mtl). It shifts every
    log by the same constant, which mean normalisation removes.
    """

    sample_rate: int = 16000
    winlen_ms: float = 25.0
    winstep_ms: float = 10.0
    nfilt: int = 40
    nfft: int = 512
    lowfreq: float = 0.0
    highfreq: float = 0.0
    preemph: float = 0.97
    input_scale: float = 32768.0

    def validate(self) -> None:
        require(self.sample_rate > 0 and self.nfilt > 0 and self.nfft > 0, "logfbank40: sizes must be positive")
        require(0 < self.winstep_ms <= self.winlen_ms, "logfbank40: need 0 < winstep_ms <= winlen_ms")
        require(0 <= self.lowfreq < (self.highfreq or self.sample_rate / 2) <= self.sample_rate / 2,
                "logfbank40: need 0 <= lowfreq < highfreq <= sample_rate / 2")
        require(0.0 <= self.preemph <= 1.0, "logfbank40: preemph must be in [0, 1]")


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


@register("logfbank40")
class LogFbankExtractor(Extractor):
    """python_speech_features' ``logfbank`` (selective_mtl.txt §4.1), in numpy float64 like the
    package, without depending on it."""

    Config = LogFbankConfig

    def __init__(self, config: LogFbankConfig) -> None:
        super().__init__(config)
        c = config
        self._length = _round_half_up(c.winlen_ms * c.sample_rate / 1000)
        self._shift = _round_half_up(c.winstep_ms * c.sample_rate / 1000)
        self._banks_t = np.ascontiguousarray(
            bin_filterbank(c.nfilt, c.nfft, c.sample_rate, c.lowfreq, c.highfreq or c.sample_rate / 2).T)

    @property
    def frame_shift(self) -> float:
        return self._shift / self.config.sample_rate

    @property
    def dims(self) -> int:
        return self.config.nfilt

    def num_frames(self, num_samples: int) -> int:
        if num_samples <= self._length:
            return 1
        return 1 + math.ceil((num_samples - self._length) / self._shift)

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        x = wave.astype(np.float64) * c.input_scale
        if x.size:
            x = np.append(x[0], x[1:] - c.preemph * x[:-1])
        count = self.num_frames(x.size)
        padded = np.zeros((count - 1) * self._shift + self._length)
        padded[:x.size] = x
        frames = frames_view(padded, self._length, self._shift)
        if self._length > c.nfft:  # the package truncates such frames (with a warning)
            frames = frames[:, :c.nfft]
        power = np.square(np.abs(np.fft.rfft(frames, c.nfft))) / c.nfft
        feats = power @ self._banks_t
        feats[feats == 0] = np.finfo(np.float64).eps
        return np.log(feats).astype(np.float32)


class WaveConditioner:
    """The waveform conditioning of SpeechSplit's ``make_spect_f0.py``, before its spectrogram and RAPT.

    In the released code's order, in float64: when the clip holds a multiple of ``append_hop``
    samples, one sample of 1e-6 is appended (RAPT then returns ``1 + N // hop`` frames like the
    centred STFT, see :mod:`sertool.features.pitch`); an order-``order`` Butterworth high-pass at
    ``highpass_hz`` run forwards and backwards (zero phase; off at 0); ``* gain``; plus uniform
    noise ``(u - 0.5) * dither``, ``u ~ U[0, 1)`` drawn from ``RandomState(seed)`` anew for every
    clip, so features do not depend on the order clips are computed in (the released code seeds
    one generator per speaker and draws through that speaker's files).

    The filter is scipy's second-order sections (``sosfiltfilt``), with edge padding of
    ``3 (2 sections + 1)`` samples (the ``spectrogram`` extractor's); ``filtfilt_padding`` pads
    ``3 (order + 1)`` samples as ``filtfilt(b, a)``, which the released code calls, does: the two
    then agree to about 1e-7 of the signal (the b, a form is only less well conditioned).

    Example:
        >>> cond = WaveConditioner(16000, 30.0, gain=0.96, dither=1e-6, append_hop=160)
        >>> t = np.arange(16000) / 16000                          # 1 s: rfft bin k is k Hz
        >>> y = cond(np.sin(2 * np.pi * 5 * t) + np.sin(2 * np.pi * 1000 * t))
        >>> amplitude = np.abs(np.fft.rfft(y[:16000])) / 8000
        >>> y.size, round(float(amplitude[5]), 2), round(float(amplitude[1000]), 3)   # 16000 = 100 hops: + 1
        (16001, 0.0, 0.96)
    """

    def __init__(self, sample_rate: int, highpass_hz: float, order: int = 5, gain: float = 1.0, dither: float = 0.0,
                 append_hop: int = 0, seed: int = 0, filtfilt_padding: bool = False) -> None:
        self.gain, self.dither, self.append_hop, self.seed = gain, dither, append_hop, seed
        self.sos, self.padlen = None, 0
        if highpass_hz > 0:
            import scipy.signal  # only here: importing it takes seconds (see stft_window)

            self.sos = scipy.signal.butter(order, highpass_hz, btype="highpass", fs=sample_rate, output="sos")
            self.padlen = 3 * (order + 1) if filtfilt_padding else 3 * (2 * len(self.sos) + 1)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        x = np.asarray(wave, dtype=np.float64)
        if self.append_hop and x.size % self.append_hop == 0:
            x = np.append(x, 1e-6)
        if self.sos is not None:
            import scipy.signal

            # the edge padding needs the signal longer than itself: shorter for tiny clips instead of failing
            x = scipy.signal.sosfiltfilt(self.sos, x, padlen=max(min(self.padlen, x.size - 1), 0))
        if self.gain != 1.0:
            x = x * self.gain
        if self.dither > 0:
            x = x + (np.random.RandomState(self.seed).rand(x.size) - 0.5) * self.dither
        return x


@dataclass
class SpectrogramConfig:
    """The SpeechSplit mel spectrogram fed to the decomposition model (decomposed_speech_mtl.txt §2.1–2.2).

    SpeechSplit's recipe: 30 Hz order-5 Butterworth high-pass (zero phase), STFT 1024 / hop
    256 / Hann 1024 with reflect padding, magnitude, 80 Slaney mel bands 90–7600 Hz, then
    ``dB = 20 log10(max(mel, 10^(min_level_db/20))) - ref_level_db`` and, with ``normalize``,
    ``clip((dB - min_level_db) / -min_level_db, 0, 1)``. ``highpass_hz`` 0 turns the filter off.
    The ``speechsplit`` preset (:class:`SpeechSplitConfig`) adds the rest of the released code's
    conditioning.
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
        require_stft(self, "spectrogram")
        require(self.min_level_db < 0, "spectrogram: min_level_db must be negative")
        require(0 <= self.highpass_hz < self.sample_rate / 2, "spectrogram: highpass_hz must be below Nyquist")


@register("spectrogram")
class SpectrogramExtractor(MelStftExtractor):
    """SpeechSplit-style normalised dB mel spectrogram in [0, 1]."""

    Config = SpectrogramConfig

    def __init__(self, config: SpectrogramConfig) -> None:
        super().__init__(config)
        self._condition = self.conditioner(config)

    def conditioner(self, c: SpectrogramConfig) -> WaveConditioner:
        """The waveform conditioning before the STFT: here the high-pass alone."""
        return WaveConditioner(c.sample_rate, c.highpass_hz, c.highpass_order)

    @property
    def dims(self) -> int:
        return self.config.n_mels

    def compute(self, wave: np.ndarray) -> np.ndarray:
        c = self.config
        mel = self.mel_spectrum(self._condition(wave).astype(np.float32), 1.0)
        db = 20.0 * np.log10(np.maximum(mel, 10.0 ** (c.min_level_db / 20.0))) - c.ref_level_db
        if c.normalize:
            db = np.clip((db - c.min_level_db) / -c.min_level_db, 0.0, 1.0)
        return db.astype(np.float32, copy=False)


@dataclass
class SpeechSplitConfig(SpectrogramConfig):
    """The decomposed-speech paper's spectrogram as SpeechSplit's released ``make_spect_f0.py`` makes it.

    decomposed_speech_mtl.txt §2.1–2.2 follows SpeechSplit (its [13]) without giving settings; the
    released code gives them: 16 kHz; a sample of 1e-6 appended when the clip holds a multiple of
    256 samples; ``filtfilt`` of an order-5 30 Hz Butterworth high-pass; ``* 0.96`` (``gain``);
    ``+ (rand - 0.5) * 1e-6`` (``dither``, see :class:`WaveConditioner`); magnitude STFT of
    1024-point Hann frames every 256 samples, centred with reflect padding; librosa's Slaney mel
    filter bank, 80 bands 90–7600 Hz, normalised; ``20 log10(max(1e-5, mel)) - 16``; ``(x + 100) / 100``.
    The script stores that unclipped; its data loader clips it to [0, 1] before the model
    (``np.clip(a, 0, 1)`` in ``MyCollator``), and so does ``normalize`` here. Frames:
    ``1 + N // 256``, one to one with the ``pitch`` extractor's RAPT frames at ``frame_period_ms: 16``.
    """

    gain: float = 0.96
    dither: float = 1e-6

    def validate(self) -> None:
        super().validate()
        require(self.gain > 0 and self.dither >= 0, "speechsplit: gain must be positive and dither non-negative")


@register("speechsplit")
class SpeechSplitExtractor(SpectrogramExtractor):
    """SpeechSplit's spectrogram with all of its released conditioning (:class:`SpeechSplitConfig`).

    Example:
        >>> ext = SpeechSplitExtractor(SpeechSplitConfig())
        >>> ext(np.zeros(16000, np.float32), 16000).shape, ext.num_frames(16000)
        ((63, 80), 63)
    """

    Config = SpeechSplitConfig

    def conditioner(self, c: SpectrogramConfig) -> WaveConditioner:
        assert isinstance(c, SpeechSplitConfig)
        return WaveConditioner(c.sample_rate, c.highpass_hz, c.highpass_order, gain=c.gain, dither=c.dither,
                               append_hop=c.hop_length, filtfilt_padding=True)
