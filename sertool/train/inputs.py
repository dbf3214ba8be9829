"""Named model inputs: where each comes from and how a raw matrix or waveform becomes it.

An encoder declares the inputs it reads by name (:attr:`sertool.models.Encoder.inputs`); the
configuration's ``data.inputs`` says where each comes from (:class:`~sertool.train.config.InputConfig`).
An :class:`InputSpec` is that resolved for one fold: the feature extractor that wrote the input's
directory (so inference can compute it from audio), its normalisation (statistics fixed on the
fold's training speakers, one :class:`Normaliser` per feature directory), an optional transform,
and the crop/pad length. Training, ``sertool eval`` and ``sertool infer`` all shape an input with
:meth:`InputSpec.prepare`, and the model bundle stores every spec, so a test utterance gets the
same input in all three.

The steps for a feature input are: crop to ``max_seconds`` → normalise → transform → zero-pad
to ``max_seconds`` (``pad_to_max``). Padding after normalisation makes the zeros the mean frame
(selective_mtl.txt §4.1). An audio input is cropped and padded only.

Example:
    >>> spec = InputSpec(name="pitch", source="features", dims=257, frame_shift=0.01, max_len=4,
    ...                  transform={"name": "onehot", "column": 3, "classes": 257})
    >>> raw = np.array([[0, 0, 0, 0], [200, 1, 0.5, 129], [210, 1, 0.7, 140], [0, 0, 0, 0], [9, 9, 9, 9]])
    >>> x = spec.prepare(raw, speaker=None)
    >>> x.shape, x.argmax(1).tolist()
    ((4, 257), [0, 129, 140, 0])
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sertool.audio import read_audio
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.registry import Registry

if TYPE_CHECKING:
    from sertool.train.config import ExperimentConfig
    from sertool.train.sources import ExperimentData, Item

# ----------------------------------------------------------------------------- normalisation


@dataclass
class Normaliser:
    """Mean/variance normalisation with statistics fixed before training (train speakers only).

    ``per_speaker`` (optional) maps a speaker to its own statistics; others use ``mean``/``std``.

    Example:
        >>> norm = Normaliser(np.array([1.0, 2.0]), np.array([2.0, 1.0]), {"a": (np.zeros(2), np.ones(2))})
        >>> norm(np.array([[3.0, 3.0]])).tolist(), norm(np.array([[3.0, 3.0]]), "a").tolist()
        ([[1.0, 1.0]], [[3.0, 3.0]])
    """

    mean: np.ndarray
    std: np.ndarray
    per_speaker: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def __call__(self, feats: np.ndarray, speaker: str | None = None) -> np.ndarray:
        mean, std = self.mean, self.std
        if self.per_speaker is not None and speaker in self.per_speaker:
            mean, std = self.per_speaker[speaker]
        return (feats - mean) / std

    @classmethod
    def identity(cls, dims: int) -> Normaliser:
        return cls(np.zeros(dims, np.float32), np.ones(dims, np.float32))

    def to_dict(self) -> dict[str, Any]:
        """Tensors and strings only, so a bundle loads with ``weights_only=True``."""

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a, np.float32).copy())

        per = None if self.per_speaker is None else {k: [t(m), t(s)] for k, (m, s) in self.per_speaker.items()}
        return {"mean": t(self.mean), "std": t(self.std), "per_speaker": per}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Normaliser:
        per = d.get("per_speaker")
        return cls(d["mean"].numpy(), d["std"].numpy(),
                   None if per is None else {k: (m.numpy(), s.numpy()) for k, (m, s) in per.items()})


CMVN_MODES = ("train", "global", "speaker", "none")


def build_normaliser(mode: str, cmvn: Any, train_speakers: set[str]) -> Normaliser:
    """Normalisation statistics that never look at test speakers' labels.

    ``train``: pooled over ``train_speakers``; ``global``: over every speaker of the feature
    directory; ``speaker``: each speaker by its own statistics (unsupervised, so a test speaker's
    own features may be used), unknown speakers by the training pool; ``none``: identity.
    """
    if mode == "none":
        return Normaliser.identity(cmvn.dims)
    if mode == "train":
        return Normaliser(*cmvn.pooled(sorted(train_speakers)))
    if mode == "global":
        return Normaliser(*cmvn.pooled(None))
    if mode == "speaker":
        per = {spk: cmvn.pooled([spk]) for spk in cmvn.speakers}
        return Normaliser(*cmvn.pooled(sorted(train_speakers)), per_speaker=per)
    raise SertoolError(f"config: cmvn must be one of {', '.join(CMVN_MODES)}, got {mode!r}")


def fit_length(x: np.ndarray, max_len: int | None, pad: bool = False) -> np.ndarray:
    """Crop ``x`` (frames or samples first) to ``max_len``; with ``pad``, zero-pad it up to ``max_len``.

    Example:
        >>> fit_length(np.ones((5, 2)), 3).shape, fit_length(np.ones((2, 2)), 3, pad=True).shape
        ((3, 2), (3, 2))
    """
    if max_len is None:
        return x
    x = x[:max_len]
    if pad and x.shape[0] < max_len:
        x = np.pad(x, [(0, max_len - x.shape[0])] + [(0, 0)] * (x.ndim - 1))
    return x


# ----------------------------------------------------------------------------- transforms

#: Per-input transforms by name (``data.inputs.<name>.transform: {name: NAME, ...}``). Each is a
#: class built with its settings, called on a ``(T, D)`` matrix, with ``dims(D)`` its output size.
TRANSFORMS: Registry[type] = Registry("input transform")


@TRANSFORMS.register("onehot")
class OneHot:
    """Column ``column`` (integer classes 0..classes-1) as a one-hot ``(T, classes)`` matrix.

    The ``pitch`` extractor's column 3 (0 unvoiced, 1..256 pitch bins) with ``classes: 257`` is
    SpeechSplit's one-hot pitch contour (decomposed_speech_mtl.txt §2.1).
    """

    def __init__(self, column: int, classes: int):
        self.column, self.classes = int(column), int(classes)

    def dims(self, in_dims: int) -> int:
        if not 0 <= self.column < in_dims:
            raise SertoolError(f"onehot transform: column {self.column} is outside the input's {in_dims} columns")
        return self.classes

    def __call__(self, x: np.ndarray) -> np.ndarray:
        idx = np.rint(x[:, self.column]).astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.classes):
            raise SertoolError(f"onehot transform: values {idx.min()}..{idx.max()} outside 0..{self.classes - 1}")
        out = np.zeros((idx.size, self.classes), np.float32)
        out[np.arange(idx.size), idx] = 1.0
        return out


@TRANSFORMS.register("columns")
class Columns:
    """The listed columns, e.g. ``[2]``: the ``pitch`` extractor's log-F0 normalised per speaker."""

    def __init__(self, columns: list[int]):
        self.columns = [int(c) for c in columns]

    def dims(self, in_dims: int) -> int:
        bad = [c for c in self.columns if not 0 <= c < in_dims]
        if bad or not self.columns:
            raise SertoolError(f"columns transform: {self.columns} does not select from {in_dims} columns")
        return len(self.columns)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x[:, self.columns]


def build_transform(conf: Mapping[str, Any] | None) -> Any | None:
    return TRANSFORMS.build_spec(conf) if conf else None


# ----------------------------------------------------------------------------- specs


@dataclass
class InputSpec:
    """One named input as a fold's model reads it; stored in the model bundle (see module doc).

    ``source`` is ``features`` (a matrix from a feature directory, or computed from audio by
    ``extractor`` at inference) or ``audio`` (samples at ``sample_rate``). ``normalisers`` maps
    each feature directory of the experiment to the normalisation training used for it;
    ``primary`` is the one inference uses. ``squeeze`` turns a one-column waveform feature
    directory into the ``(S,)`` samples an audio input expects.
    """

    name: str
    source: str
    dims: int
    frame_shift: float | None = None  # seconds per frame (features) ; None for audio
    sample_rate: int | None = None  # audio, or the extractor's input rate
    extractor: dict[str, Any] | None = None  # {"name", "conf"} of the feature directory
    normalisers: dict[str, Normaliser] = field(default_factory=dict)
    primary: str | None = None
    transform: dict[str, Any] | None = None
    max_len: int | None = None  # frames (features) or samples (audio)
    pad: bool = False
    squeeze: bool = False

    def __post_init__(self) -> None:
        self._transform = build_transform(self.transform)
        self._extractor = None

    def normaliser(self, directory: str | None) -> Normaliser | None:
        if not self.normalisers:
            return None
        return self.normalisers[directory if directory in self.normalisers else self.primary]

    def prepare(self, raw: np.ndarray, speaker: str | None, directory: str | None = None,
                crop: bool = True) -> np.ndarray:
        """The model input from a raw matrix (or waveform): crop, normalise, transform, pad.

        ``crop=False`` keeps the whole utterance (one that carries a transcript must not lose
        the audio its transcript describes); it is still padded up to the length if asked.
        """
        limit = self.max_len if crop else None
        x = fit_length(raw, limit)  # crop before normalising: no work on frames thrown away
        norm = self.normaliser(directory)
        if norm is not None:
            x = norm(x, speaker)
        if self._transform is not None:
            x = self._transform(x)
        if self.squeeze:
            x = x[:, 0]
        if limit is None and self.max_len is not None:
            limit = max(self.max_len, x.shape[0])
        return np.ascontiguousarray(fit_length(x, limit, self.pad), dtype=np.float32)

    def _built_extractor(self) -> Any:
        if self._extractor is None:
            from sertool.features.extractors import get_extractor

            self._extractor = get_extractor(self.extractor["name"], self.extractor.get("conf"))
        return self._extractor

    @property
    def audio_rate(self) -> int:
        """The sample rate audio is read at for this input (the extractor's, for features)."""
        return int(self.sample_rate) if self.source == "audio" else int(self._built_extractor().sample_rate)

    def from_audio(self, wave: np.ndarray, sample_rate: int, speaker: str | None = None) -> np.ndarray:
        """The model input from a mono waveform (inference): features computed as the features stage did."""
        if self.source == "audio":
            return self.prepare(np.asarray(wave, np.float32), speaker)
        feats = self._built_extractor()(wave, sample_rate)
        if feats.shape[0] == 0:
            raise SertoolError(f"clip too short to compute a single {self.extractor['name']} frame")
        return self.prepare(feats, speaker)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "dims": self.dims, "frame_shift": self.frame_shift,
                "sample_rate": self.sample_rate, "extractor": self.extractor,
                "normalisers": {d: n.to_dict() for d, n in self.normalisers.items()}, "primary": self.primary,
                "transform": self.transform, "max_len": self.max_len, "pad": self.pad, "squeeze": self.squeeze}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> InputSpec:
        d = dict(d)
        d["normalisers"] = {k: Normaliser.from_dict(v) for k, v in d["normalisers"].items()}
        return cls(**d)


def warp_positions(frames: int, rng: np.random.Generator, conf: Mapping[str, Any]) -> np.ndarray:
    """SpeechSplit-style random resampling positions for ``frames`` frames (``conf``: segment, factor)."""
    from sertool.features.random_resample import resample_positions

    return resample_positions(frames, rng, tuple(conf.get("segment", (19, 32))), tuple(conf.get("factor", (0.5, 1.5))))


class ModelInputs:
    """Every named input of an utterance, read from feature shards or audio and shaped by its spec.

    ``readers`` maps a feature directory to its :class:`~sertool.features.storage.FeatureReader`;
    ``aligned`` names inputs whose frames must correspond one to one (checked per utterance).
    """

    def __init__(self, specs: Mapping[str, InputSpec], readers: Mapping[str, Any], aligned: tuple[str, ...] = ()):
        self.specs, self.readers, self.aligned = dict(specs), dict(readers), tuple(aligned)

    def check(self, utts: list[tuple[Utterance, Mapping[str, str]]]) -> None:
        """Every utterance has every feature input, aligned inputs agree on their frame count."""
        for name, spec in self.specs.items():
            if spec.source != "features":
                continue
            missing = [u.id for u, dirs in utts if u.id not in self.readers[dirs[name]]]
            if missing:
                raise SertoolError(f"{len(missing)} utterances have no {name} features (e.g. {missing[0]}): "
                                   "rerun `sertool features` on their manifest")
        feature_aligned = [n for n in self.aligned if self.specs[n].source == "features"]
        for u, dirs in utts:
            counts = {n: self.readers[dirs[n]].frames(u.id) for n in feature_aligned}
            self._check_aligned(u.id, counts)

    def _check_aligned(self, utt_id: str, counts: Mapping[str, int]) -> None:
        if len(set(counts.values())) > 1:
            (a, na), (b, nb) = sorted(counts.items(), key=lambda kv: kv[1])[::len(counts) - 1]
            raise SertoolError(f"utterance {utt_id}: inputs {a} ({na} frames) and {b} ({nb} frames) must be "
                               "aligned frame by frame; extract them with the same frame shift and rate")

    def raw(self, utt: Utterance, dirs: Mapping[str, str], aug: str | None = None) -> dict[str, np.ndarray]:
        out = {}
        for name, spec in self.specs.items():
            if spec.source == "audio":
                out[name], _ = read_audio(utt.audio, sample_rate=spec.sample_rate)
            else:
                out[name] = self.readers[dirs[name]].read(utt.id, aug)
        return out

    def __call__(self, utt: Utterance, dirs: Mapping[str, str], aug: str | None = None,
                 warp: Mapping[str, Any] | None = None, rng: np.random.Generator | None = None,
                 crop: bool = True) -> dict[str, torch.Tensor]:
        """The model inputs of ``utt`` (its copy ``aug``), optionally randomly resampled (training),
        cropped to the maximum length unless ``crop`` is False."""
        raw = self.raw(utt, dirs, aug)
        if warp is not None and rng is not None:
            raw = self._warp(raw, warp, rng)
        self._check_aligned(utt.id, {n: raw[n].shape[0] for n in self.aligned})
        return {name: torch.from_numpy(spec.prepare(raw[name], utt.speaker, dirs.get(name), crop))
                for name, spec in self.specs.items()}

    def _warp(self, raw: dict[str, np.ndarray], conf: Mapping[str, Any], rng: np.random.Generator) -> dict:
        """Random resampling of the feature inputs; aligned inputs share one warp, so they stay aligned."""
        from sertool.features.base import EXTRACTORS
        from sertool.features.random_resample import apply_positions

        out, shared = dict(raw), None
        for name, spec in self.specs.items():
            if spec.source != "features":
                continue
            if name in self.aligned:
                shared = warp_positions(raw[name].shape[0], rng, conf) if shared is None else shared
                pos = shared
            else:
                pos = warp_positions(raw[name].shape[0], rng, conf)
            mode = EXTRACTORS.get(spec.extractor["name"]).resample_mode if spec.extractor else "linear"
            out[name] = apply_positions(raw[name], pos, mode)
        return out


def fold_specs(cfg: ExperimentConfig, data: ExperimentData, encoder: Any,
               train_items: list[Item]) -> dict[str, InputSpec]:
    """Every input's spec for one fold: normalisers fitted on that fold's training speakers only.

    Each input's size (after its transform) must be what the encoder was built for; the error
    names both numbers.
    """
    from sertool.train.sources import feature_spec

    seconds = cfg.data.max_seconds
    specs: dict[str, InputSpec] = {}
    primary = next(s for s in data.sources if s.folds is not None)
    for name, inp in data.inputs.items():
        want = encoder.input_dims[name]
        squeeze = encoder.inputs[name] == "audio"
        if inp.audio:
            rate = inp.sample_rate or encoder.sample_rate
            specs[name] = InputSpec(name, "audio", 1, sample_rate=rate, pad=cfg.data.pad_to_max,
                                    max_len=None if seconds is None else int(round(seconds * rate)))
            continue
        dirs = list(dict.fromkeys(s.inputs[name] for s in data.sources if name in s.inputs))
        reader = data.readers[dirs[0]]
        mode = inp.cmvn or cfg.data.cmvn
        normalisers = {}
        for d in dirs:
            speakers = {it.utt.speaker for it in train_items if data.sources[it.source].inputs.get(name) == d}
            cmvn = data.cmvns[d]
            # (a directory without training utterances, a corner case, is normalised over all its speakers)
            normalisers[d] = build_normaliser(mode, cmvn, speakers or set(cmvn.speakers))
        transform = build_transform(inp.transform)
        dims = reader.dims if transform is None else transform.dims(reader.dims)
        if dims != want:
            raise SertoolError(f"input {name!r} has {dims} dimensions{' after its transform' if transform else ''} "
                               f"({dirs[0]}), but the encoder is built for {want}: set model.encoder_conf to match")
        extractor = feature_spec(dirs[0])
        specs[name] = InputSpec(
            name, "features", dims, frame_shift=reader.frame_shift, extractor=extractor,
            normalisers=normalisers,
            primary=primary.inputs[name] if name in primary.inputs else dirs[0], transform=inp.transform,
            max_len=None if seconds is None else max(1, int(round(seconds / reader.frame_shift))),
            pad=cfg.data.pad_to_max, squeeze=squeeze)
    return specs


def item_rng(seed: int, epoch: int, utt_id: str) -> np.random.Generator:
    """The generator of one utterance's draws in one epoch: the same in a resumed run and in any worker."""
    return np.random.default_rng([seed, epoch, zlib.crc32(utt_id.encode())])
