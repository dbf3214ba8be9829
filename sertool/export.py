"""Exporting a trained model bundle to ONNX (``sertool export``), to run with onnxruntime alone.

The exported graph takes a batch of clips and returns what ``sertool infer`` answers, as tensors:
``<task>_probabilities`` ``(N, classes)`` for every classification head (softmax) and
``<task>`` ``(N,)`` for an intensity head (clipped to its range). Batch and time axes are
dynamic; padding beyond each clip's length never changes its result.

Where every named input of the model can be computed from samples in tensor operations (the
``logmel``, ``fbank`` and ``waveform`` extractors, ``spectrogram`` without its high-pass, raw
audio inputs), the graph takes ``audio`` ``(N, S)`` float32 samples at the sidecar's
``sample_rate`` with ``audio_lengths`` ``(N,)`` int64, and computes the features inside it: framing,
window, DFT (a constant matrix), mel filter bank, log, deltas, then the bundle's crop,
normalisation, transform and padding (:class:`InputGraph`). Otherwise (``pitch``: pyworld; a
dithered ``fbank``; the ``spectrogram`` high-pass, a zero-phase IIR filter; inputs at several
sample rates) the graph takes every input ``<name>`` ``(N, T, D)`` as the extractor computes it
(the matrices ``sertool features`` stores, before normalisation) with ``<name>_lengths``, and
normalises, transforms and pads them itself.

Beside ``model.onnx``, ``model.json`` (the sidecar) records the graph's inputs and outputs, the
label names of each output, the sample rate, and for every named input its extractor and
settings, normalisation statistics, transform and crop/pad length.

Recurrent layers run without packed sequences in the graph (:func:`sertool.layers.masking.run_masked`):
a batch of clips of different lengths gives each clip the result it gets alone.

Example::

    result = export_experiment("exp/sa_cnn_blstm")            # the fold with the best dev UA
    result.onnx_path, result.input_kind                       # (…/fold-1/export/model.onnx, 'audio')

    import onnxruntime, soundfile
    wave, rate = soundfile.read("clip.wav", dtype="float32")  # 16 kHz mono
    session = onnxruntime.InferenceSession(str(result.onnx_path))
    probs, = session.run(["emotion_probabilities"], {"audio": wave[None], "audio_lengths": np.array([len(wave)])})

Front ends (:data:`FRONT_ENDS`) compute an extractor's features from a padded batch of samples:

    >>> from sertool.features.extractors import get_extractor
    >>> fbank = get_extractor("fbank", {"num_mel_bins": 40})
    >>> front = FRONT_ENDS.get("fbank")(fbank)
    >>> wave = np.random.default_rng(0).standard_normal((2, 8000)).astype(np.float32) * 0.1
    >>> feats, lengths = front(torch.from_numpy(wave), torch.tensor([8000, 5000]))
    >>> feats.shape[2], lengths.tolist()                    # frames beyond each clip's count are padding
    (40, [48, 29])
    >>> bool(np.abs(feats[1, :29].numpy() - fbank(wave[1, :5000], 16000)).max() < 1e-3)
    True
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sertool import __version__
from sertool.errors import SertoolError
from sertool.registry import Registry
from sertool.stage import atomic_write_json
from sertool.tasks.classification import ClassificationTask
from sertool.tasks.regression import IntensityTask
from sertool.train.bundle import Bundle, find_bundle
from sertool.train.inputs import InputSpec

FORMATS = ("onnx",)
OPSET = 17
INSTALL_HINT = "pip install 'sertool[export]'"
#: Largest difference between onnxruntime's and torch's outputs on the export's example batch.
CHECK_TOLERANCE = 1e-3
SIDECAR_FORMAT = 1


def require_onnx() -> tuple[Any, Any]:
    """The ``onnx`` and ``onnxruntime`` modules, or a one-line error naming the extra to install."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        missing = getattr(e, "name", None) or "onnx/onnxruntime"
        raise SertoolError(f"ONNX export needs onnx and onnxruntime ({missing} is not installed): "
                           f"{INSTALL_HINT}") from None
    return onnx, onnxruntime


# ----------------------------------------------------------------------------- batch helpers


def sequence_mask(lengths: torch.Tensor, steps: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(N, steps)``: 1 on each sequence's valid steps, 0 on padding (in ``dtype``)."""
    return (torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]).to(dtype)


def gather_steps(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, S)`` or ``(N, S, D)`` at per-sequence step indices ``index`` ``(N, ...)``."""
    if x.dim() == 2:
        return torch.gather(x, 1, index.reshape(index.shape[0], -1)).reshape(index.shape)
    flat = index.reshape(index.shape[0], -1)
    out = torch.gather(x, 1, flat[..., None].expand(-1, -1, x.shape[2]))
    return out.reshape(*index.shape, x.shape[2])


def frame_index(count: torch.Tensor | int, length: int, shift: int) -> torch.Tensor:
    """``(count, length)`` sample indices of ``count`` frames of ``length`` samples every ``shift``."""
    return torch.arange(count)[:, None] * shift + torch.arange(length)[None, :]


def pad_index(lengths: torch.Tensor, total: int, left: int, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence indices into the samples of a signal padded by ``left`` samples on the left.

    Returns ``(index, valid)`` ``(N, total)``: position ``i`` reads sample ``index`` (``valid`` 0
    where it reads a zero). ``mode``: ``constant`` (zeros), ``reflect`` (numpy's, edge excluded),
    ``kaldi`` (Kaldi's: the left edge reflected including the edge sample, then the whole
    reversed signal on the right).
    """
    n = lengths[:, None]
    j = torch.arange(total)[None, :] - left  # (1, total): the position in each clip
    if mode == "constant":
        idx, valid = j.expand(n.shape[0], -1), (j >= 0) & (j < n)
    elif mode == "reflect":
        idx = torch.where(j < 0, -j, torch.where(j >= n, 2 * (n - 1) - j, j))
        valid = torch.ones_like(idx, dtype=torch.bool)
    elif mode == "kaldi":
        idx = torch.where(j < 0, -j - 1, torch.where(j >= n, 2 * n - 1 - j, j))
        valid = torch.ones_like(idx, dtype=torch.bool)
    else:
        raise ValueError(f"unknown padding mode {mode!r}")
    upper = (n - 1).clamp(min=0)
    return torch.minimum(idx.clamp(min=0), upper), valid


def batch_deltas(x: torch.Tensor, lengths: torch.Tensor, window: int) -> torch.Tensor:
    """:func:`sertool.features.spectral.deltas` of each sequence of ``x`` ``(N, T, D)``, edges its own."""
    half = window // 2
    t = torch.arange(x.shape[1])[None, :]
    last = (lengths[:, None] - 1).clamp(min=0)
    out = torch.zeros_like(x)
    for n in range(1, half + 1):
        ahead = gather_steps(x, torch.minimum((t + n).expand(x.shape[0], -1), last))
        behind = gather_steps(x, torch.minimum((t - n).clamp(min=0), last))
        out = out + n * (ahead - behind)
    return out / float(2 * sum(n * n for n in range(1, half + 1)))


def dft_matrix(n_fft: int) -> torch.Tensor:
    """``(n_fft, 2 (n_fft // 2 + 1))``: a frame times it gives the real and imaginary parts of its rfft."""
    k = np.arange(n_fft // 2 + 1)
    angle = 2 * np.pi * np.outer(np.arange(n_fft), k) / n_fft
    return torch.from_numpy(np.concatenate([np.cos(angle), -np.sin(angle)], axis=1).astype(np.float32))


def power_spectrum(frames: torch.Tensor, dft: torch.Tensor, power: float) -> torch.Tensor:
    """``|rfft(frame)| ** power`` of each frame, as :func:`sertool.features.spectral.rfft_power`."""
    spec = frames @ dft
    bins = dft.shape[1] // 2
    out = spec[..., :bins] * spec[..., :bins] + spec[..., bins:] * spec[..., bins:]
    if power == 2.0:
        return out
    return torch.sqrt(out) if power == 1.0 else out ** (power / 2.0)


# ----------------------------------------------------------------------------- front ends

#: Front ends by extractor name: ``FRONT_ENDS.get(name)(extractor)`` is a module computing the
#: extractor's features from a padded batch, ``(wave (N, S), lengths (N,)) → (feats (N, T, D), frames (N,))``.
#: A class may raise :class:`NotExportable` for settings it cannot express.
FRONT_ENDS: Registry[type[nn.Module]] = Registry("ONNX front end")


class NotExportable(Exception):
    """The reason a front end (or a whole model) cannot be expressed in the graph."""


@FRONT_ENDS.register("logmel")
class LogMelFrontEnd(nn.Module):
    """``logmel``: centred STFT, power, Slaney mel filter bank, log, Δ and ΔΔ.

    As :class:`~sertool.features.spectral.LogMelExtractor`, whose window and filter bank it uses.
    """

    def __init__(self, extractor: Any):
        super().__init__()
        self.c = c = extractor.config
        if c.pad_mode not in ("constant", "reflect"):
            raise NotExportable(f"logmel pad_mode {c.pad_mode!r}")
        self.register_buffer("window", torch.from_numpy(extractor._window.copy()))
        self.register_buffer("basis", torch.from_numpy(extractor._basis_t.copy()))
        self.register_buffer("dft", dft_matrix(c.n_fft))

    def mel(self, wave: torch.Tensor, lengths: torch.Tensor, power: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The mel spectrum ``(N, T, n_mels)`` and frame counts (``1 + N // hop``)."""
        c = self.c
        half = c.n_fft // 2
        count = 1 + wave.shape[1] // c.hop_length
        total = (count - 1) * c.hop_length + c.n_fft
        idx, valid = pad_index(lengths, total, half, "constant")
        if c.pad_mode == "reflect":  # as the extractor: clips of n_fft // 2 samples or fewer are zero-padded
            ridx, _ = pad_index(lengths, total, half, "reflect")
            long = (lengths > half)[:, None]
            idx = torch.where(long, ridx, idx)
            valid = valid | long
        padded = gather_steps(wave, idx) * valid.to(wave.dtype)  # (N, total)
        frames = gather_steps(padded, frame_index(count, c.n_fft, c.hop_length).expand(wave.shape[0], -1, -1))
        mel = power_spectrum(frames * self.window, self.dft, power) @ self.basis
        return mel, 1 + lengths // c.hop_length

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.c
        mel, frames = self.mel(wave, lengths, c.power)
        logmel = torch.log(torch.clamp(mel, min=c.log_floor))
        if not c.deltas:
            return logmel, frames
        d1 = batch_deltas(logmel, frames, c.delta_window)
        return torch.cat([logmel, d1, batch_deltas(d1, frames, c.delta_window)], dim=2), frames


@FRONT_ENDS.register("spectrogram")
class SpectrogramFrontEnd(LogMelFrontEnd):
    """``spectrogram`` without its high-pass (``highpass_hz: 0``): magnitude mel, dB, normalised to [0, 1]."""

    def __init__(self, extractor: Any):
        if extractor.config.highpass_hz > 0:
            raise NotExportable(f"the spectrogram's {extractor.config.highpass_hz:g} Hz high-pass is a zero-phase "
                                "IIR filter (scipy sosfiltfilt)")
        super().__init__(extractor)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.c
        mel, frames = self.mel(wave, lengths, 1.0)
        floor = float(np.float32(10.0 ** (c.min_level_db / 20.0)))
        db = 20.0 * (torch.log(torch.clamp(mel, min=floor)) / float(np.log(10.0))) - c.ref_level_db
        if c.normalize:
            db = torch.clamp((db - c.min_level_db) / -c.min_level_db, 0.0, 1.0)
        return db, frames


@FRONT_ENDS.register("fbank")
class FbankFrontEnd(nn.Module):
    """``fbank``: Kaldi filter banks (see :class:`~sertool.features.spectral.FbankExtractor`), dither excepted."""

    def __init__(self, extractor: Any):
        super().__init__()
        self.c = c = extractor.config
        if c.dither > 0:
            raise NotExportable("fbank with dither (random noise)")
        self.length, self.shift, self.n_fft = extractor._length, extractor._shift, extractor._n_fft
        self.register_buffer("window", torch.from_numpy(extractor._window.copy()))
        self.register_buffer("banks", torch.from_numpy(extractor._banks_t.copy()))
        self.register_buffer("dft", dft_matrix(self.n_fft))

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        from sertool.features.spectral import FLOAT32_EPS

        c, length, shift = self.c, self.length, self.shift
        long = lengths >= length
        if c.snip_edges:
            frames_n = torch.where(long, 1 + (lengths - length).clamp(min=0) // shift, 0)
            count = 1 + wave.shape[1] // shift  # enough frames for the longest clip
            idx, valid = pad_index(lengths, (count - 1) * shift + length, 0, "constant")
        else:
            frames_n = torch.where(long, (lengths + shift // 2) // shift, 0)
            left = length // 2 - shift // 2
            count = 1 + (wave.shape[1] + shift // 2) // shift
            idx, valid = pad_index(lengths, (count - 1) * shift + length, left, "kaldi")
        signal = gather_steps(wave * c.input_scale, idx) * valid.to(wave.dtype)
        frames = gather_steps(signal, frame_index(count, length, shift).expand(wave.shape[0], -1, -1))
        if c.remove_dc_offset:
            frames = frames - frames.mean(dim=2, keepdim=True)
        if c.use_energy and c.raw_energy:
            energy = self.log_energy(frames, FLOAT32_EPS)
        k = c.preemphasis_coefficient
        if k != 0:
            frames = torch.cat([frames[..., :1] - k * frames[..., :1], frames[..., 1:] - k * frames[..., :-1]], dim=2)
        frames = frames * self.window
        if c.use_energy and not c.raw_energy:
            energy = self.log_energy(frames, FLOAT32_EPS)
        if self.n_fft > length:
            frames = nn.functional.pad(frames, (0, self.n_fft - length))
        mel = power_spectrum(frames, self.dft, 2.0 if c.use_power else 1.0) @ self.banks
        if c.use_log_fbank:
            mel = torch.log(torch.clamp(mel, min=float(FLOAT32_EPS)))
        if c.use_energy:
            mel = torch.cat([energy[..., None], mel], dim=2)
        return mel, frames_n

    def log_energy(self, frames: torch.Tensor, eps: float) -> torch.Tensor:
        energy = torch.log(torch.clamp((frames * frames).sum(-1), min=float(eps)))
        floor = self.c.energy_floor
        return torch.clamp(energy, min=float(np.log(floor))) if floor > 0 else energy


@FRONT_ENDS.register("waveform")
class WaveformFrontEnd(nn.Module):
    """``waveform``: the samples as a one-column matrix."""

    def __init__(self, extractor: Any):
        super().__init__()

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return wave[..., None], lengths


def front_end(spec: InputSpec) -> tuple[nn.Module, int]:
    """The front end computing ``spec``'s raw input from samples, and the sample rate it reads.

    Raises :class:`NotExportable` with the reason when there is none.
    """
    if spec.source == "audio":
        return WaveformFrontEnd(None), int(spec.sample_rate)
    from sertool.features.extractors import get_extractor

    name = spec.extractor["name"]
    if name == "pitch":
        raise NotExportable("pitch is computed with pyworld (WORLD's F0 estimators), which ONNX cannot express")
    if name not in FRONT_ENDS:
        raise NotExportable(f"no ONNX front end for the {name!r} extractor")
    extractor = get_extractor(name, spec.extractor.get("conf"))
    return FRONT_ENDS.get(name)(extractor), int(extractor.sample_rate)


# ----------------------------------------------------------------------------- the graph


class InputGraph(nn.Module):
    """:meth:`InputSpec.prepare` on a padded batch: crop, normalise (the primary statistics), transform, pad."""

    def __init__(self, spec: InputSpec):
        super().__init__()
        self.spec = spec
        norm = spec.normaliser(None)
        self.normalise = norm is not None
        if self.normalise:
            self.register_buffer("mean", torch.from_numpy(np.asarray(norm.mean, np.float32).copy()))
            self.register_buffer("std", torch.from_numpy(np.asarray(norm.std, np.float32).copy()))
        self.transform = dict(spec.transform or {})
        if self.transform and self.transform.get("name") not in ("columns", "onehot"):
            raise NotExportable(f"input transform {self.transform.get('name')!r}")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        spec = self.spec
        if spec.max_len is not None:
            x, lengths = x[:, :spec.max_len], torch.clamp(lengths, max=spec.max_len)
        if self.normalise:
            x = (x - self.mean) / self.std
        if self.transform.get("name") == "columns":
            x = x[..., [int(c) for c in self.transform["columns"]]]
        elif self.transform.get("name") == "onehot":
            classes = int(self.transform["classes"])
            idx = torch.round(x[..., int(self.transform["column"])])
            x = (idx[..., None] == torch.arange(classes, dtype=x.dtype)).to(x.dtype)
        if spec.squeeze:
            x = x[..., 0]
        mask = sequence_mask(lengths, x.shape[1], x.dtype)
        x = x * (mask if x.dim() == 2 else mask[..., None])
        if spec.pad and spec.max_len is not None:  # every input max_len long, the padding part of it
            pad = [0, 0] * (x.dim() - 2) + [0, spec.max_len - x.shape[1]]
            x = nn.functional.pad(x, pad)
            lengths = torch.full_like(lengths, spec.max_len)
        return x, lengths


@dataclass
class Output:
    """One output of the graph: a head's probabilities or value."""

    name: str
    task: str
    kind: str  # probabilities | value
    labels: list[str] | None = None
    range: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"name": self.name, "task": self.task, "kind": self.kind}
        d.update({"labels": self.labels} if self.kind == "probabilities" else {"range": self.range})
        return d


def graph_outputs(bundle: Bundle) -> list[Output]:
    """The graph's outputs: every classification head's probabilities, every intensity head's value."""
    outs = []
    for name, task in bundle.model.tasks.items():
        if isinstance(task, ClassificationTask):
            outs.append(Output(f"{name}_probabilities", name, "probabilities", labels=list(task.labels)))
        elif isinstance(task, IntensityTask):
            outs.append(Output(name, name, "value", range=[task.low, task.high]))
    if not outs:
        raise SertoolError("the model has no classification or intensity head to export")
    return outs


class ExportGraph(nn.Module):
    """The model with its input preparation, from ``audio``/``audio_lengths`` or from each raw input.

    ``front_ends`` maps an input to its front end (audio graphs) or is None (feature graphs).
    Feature inputs get ``frame_stride - 1`` extra zero frames at the end, so an encoder that pools
    ``frame_stride`` frames has a full window even for the shortest clip; encoders ignore frames
    beyond each sequence's length, so nothing else changes.
    """

    def __init__(self, bundle: Bundle, front_ends: dict[str, nn.Module] | None):
        super().__init__()
        self.model = bundle.model
        self.names = list(bundle.specs)
        self.prep = nn.ModuleDict({name: InputGraph(spec) for name, spec in bundle.specs.items()})
        self.front_ends = None if front_ends is None else nn.ModuleDict(front_ends)
        self.shared = {}  # inputs computed by the same front end settings share one computation
        if front_ends is not None:
            firsts: dict[str, str] = {}
            for name, spec in bundle.specs.items():
                key = json.dumps(spec.extractor if spec.source == "features" else ["audio", spec.sample_rate],
                                 sort_keys=True)
                self.shared[name] = firsts.setdefault(key, name)
        self.extra_frames = max(0, int(getattr(bundle.model.encoder, "frame_stride", 1)) - 1)
        self.outputs = graph_outputs(bundle)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raw: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self.front_ends is not None:
            wave, lengths = args
            wave = wave * sequence_mask(lengths, wave.shape[1], wave.dtype)
            for name in self.names:
                first = self.shared[name]
                if first not in raw:
                    raw[first] = self.front_ends[first](wave, lengths)
                raw[name] = raw[first]
        else:
            raw = {name: (args[2 * i], args[2 * i + 1]) for i, name in enumerate(self.names)}
        inputs = {}
        for name in self.names:
            x, lengths = self.prep[name](*raw[name])
            if x.dim() == 3 and self.extra_frames:
                x = nn.functional.pad(x, (0, 0, 0, self.extra_frames))
            inputs[name], inputs[f"{name}_lengths"] = x, lengths
        preds = self.model(**inputs)
        out = []
        for o in self.outputs:
            pred = preds[o.task]
            out.append(torch.softmax(pred.float(), -1) if o.kind == "probabilities"
                       else pred.float().clamp(o.range[0], o.range[1]))
        return tuple(out)


# ----------------------------------------------------------------------------- example batch


def example_waves(sample_rate: int) -> list[np.ndarray]:
    """Two clips of different lengths (1.0 s and 0.55 s) of a harmonic tone in faint noise."""
    rng = np.random.default_rng(0)
    waves = []
    for seconds, f0 in ((1.0, 150.0), (0.55, 230.0)):
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        x = sum(0.2 / k * np.sin(2 * np.pi * f0 * k * t) for k in range(1, 4)) + 0.01 * rng.standard_normal(t.size)
        waves.append(x.astype(np.float32))
    return waves


def pad_batch(arrays: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-padded batch of arrays (first axis: time) and their lengths (int64)."""
    longest = max(a.shape[0] for a in arrays)
    batch = np.zeros((len(arrays), longest, *arrays[0].shape[1:]), np.float32)
    for i, a in enumerate(arrays):
        batch[i, :a.shape[0]] = a
    return torch.from_numpy(batch), torch.tensor([a.shape[0] for a in arrays], dtype=torch.int64)


def raw_features(spec: InputSpec, wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The raw matrix of ``spec`` for ``wave``, as ``sertool features`` stores it (before normalisation)."""
    if spec.source == "audio":
        return wave
    from sertool.features.extractors import get_extractor

    return get_extractor(spec.extractor["name"], spec.extractor.get("conf"))(wave, sample_rate)


# ----------------------------------------------------------------------------- export


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote and how the graph reads its input."""

    onnx_path: Path
    sidecar_path: Path
    input_kind: str  # audio | features
    reason: str | None  # why not from audio
    check_diff: float  # onnxruntime vs torch on the example batch
    sample_rate: int | None  # of the samples an audio graph reads


def audio_front_ends(bundle: Bundle) -> tuple[dict[str, nn.Module], int]:
    """Every input's front end and the one sample rate they read; :class:`NotExportable` otherwise."""
    fronts, rates = {}, {}
    for name, spec in bundle.specs.items():
        try:
            fronts[name], rates[name] = front_end(spec)
        except NotExportable as e:
            raise NotExportable(f"input {name!r}: {e}") from None
    if len(set(rates.values())) > 1:
        raise NotExportable("the inputs read audio at different sample rates "
                            f"({', '.join(f'{n}: {r}' for n, r in rates.items())})")
    return fronts, next(iter(rates.values()))


def input_description(spec: InputSpec) -> dict[str, Any]:
    """The sidecar's account of one named input: where it comes from and how the graph shapes it."""
    norm = spec.normaliser(None)
    d: dict[str, Any] = {
        "source": spec.source, "dims": spec.dims, "frame_shift": spec.frame_shift,
        "sample_rate": spec.sample_rate if spec.source == "audio" else None, "extractor": spec.extractor,
        "normalisation": None if norm is None else {
            "directory": spec.primary, "mean": np.asarray(norm.mean).tolist(), "std": np.asarray(norm.std).tolist(),
            "per_speaker_statistics_not_exported": norm.per_speaker is not None},
        "transform": spec.transform, "max_len": spec.max_len, "pad": spec.pad, "squeeze": spec.squeeze,
    }
    if spec.source == "features":
        from sertool.features.extractors import get_extractor

        d["sample_rate"] = get_extractor(spec.extractor["name"], spec.extractor.get("conf")).sample_rate
    return d


def export_onnx(bundle: Bundle, output_dir: str | Path, from_audio: bool | None = None,
                name: str = "model") -> ExportResult:
    """Write ``output_dir/<name>.onnx`` and its sidecar ``<name>.json``; check the graph in onnxruntime.

    ``from_audio``: None exports from audio where every input's front end allows it (else from
    features), True requires it (an error naming the input that cannot), False exports from features.
    """
    _, ort = require_onnx()
    reason, fronts, rate = None, None, None
    if from_audio is not False:
        try:
            fronts, rate = audio_front_ends(bundle)
        except NotExportable as e:
            if from_audio:
                raise SertoolError(f"cannot export this model from audio: {e}") from None
            reason = str(e)
    else:
        reason = "features asked for"
    graph = ExportGraph(bundle, fronts).eval()
    bundle.model.eval()

    waves = example_waves(rate or 16000)
    if fronts is not None:
        args = pad_batch(waves)
        names = {"audio": ("batch", "samples"), "audio_lengths": ("batch",)}
    else:
        args, names = (), {}
        for n, spec in bundle.specs.items():
            raws = [raw_features(spec, w, rate or 16000) for w in waves]
            args += pad_batch(raws)
            names.update({n: ("batch", "frames") + (("dims",) if raws[0].ndim == 2 else ()),
                          f"{n}_lengths": ("batch",)})
    input_names = list(names)
    output_names = [o.name for o in graph.outputs]
    dynamic = {k: {i: ax for i, ax in enumerate(axes) if ax != "dims"} for k, axes in names.items()}
    dynamic.update({o: {0: "batch"} for o in output_names})

    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path, sidecar = out_dir / f"{name}.onnx", out_dir / f"{name}.json"
    tmp = onnx_path.with_name(f".{onnx_path.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings of the TorchScript exporter
        expected = [t.numpy() for t in graph(*args)]
        torch.onnx.export(graph, tuple(args), str(tmp), input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False, do_constant_folding=True)
    try:
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        got = session.run(output_names, {k: v.numpy() for k, v in zip(input_names, args)})
    except Exception as e:  # onnxruntime's errors have no common base class
        tmp.unlink(missing_ok=True)
        raise SertoolError(f"onnxruntime cannot run the exported graph: {str(e).splitlines()[0]}") from None
    diff = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
    if not diff <= CHECK_TOLERANCE:
        tmp.unlink(missing_ok=True)
        raise SertoolError(f"the exported graph differs from the model by {diff:.2g} in onnxruntime (more than "
                           f"{CHECK_TOLERANCE:g}); please report this model's configuration")
    tmp.replace(onnx_path)

    atomic_write_json(sidecar, {
        "format": SIDECAR_FORMAT,
        "sertool_version": __version__,
        "onnx": onnx_path.name,
        "opset": OPSET,
        "input_kind": "audio" if fronts is not None else "features",
        "not_from_audio_because": reason,
        "sample_rate": rate,
        "inputs": [{"name": k, "dtype": "int64" if k.endswith("_lengths") else "float32", "shape": list(v)}
                   for k, v in names.items()],
        "outputs": [o.to_dict() for o in graph.outputs],
        "labels": {o.task: o.labels for o in graph.outputs if o.labels is not None},
        "main_task": bundle.main_task,
        "features": {n: input_description(spec) for n, spec in bundle.specs.items()},
        "encoder": bundle.cfg.model.encoder,
        "tasks": bundle.raw["tasks"],
        "fold": bundle.fold, "epoch": bundle.epoch, "dev_ua": bundle.dev_ua,
        "check_max_abs_diff": diff,
    })
    return ExportResult(onnx_path, sidecar, "audio" if fronts is not None else "features", reason, diff, rate)


def default_output_dir(bundle_path: Path) -> Path:
    """``EXP/fold-<name>/export`` for a fold's checkpoint, else the checkpoint's own folder."""
    if bundle_path.parent.name == "checkpoints":
        return bundle_path.parent.parent / "export"
    return bundle_path.parent


def export_experiment(path: str | Path, fold: str | None = None, output: str | Path | None = None,
                      format: str = "onnx", from_audio: bool | None = None) -> ExportResult:
    """Export the chosen fold's bundle of experiment ``path`` (or a bundle file) in ``format``."""
    if format not in FORMATS:
        raise SertoolError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    require_onnx()
    bundle_path = find_bundle(path, fold)
    bundle = Bundle.load(bundle_path, "cpu")
    return export_onnx(bundle, default_output_dir(bundle_path) if output is None else output, from_audio)
