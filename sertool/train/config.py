"""Experiment configuration: YAML → typed objects, with dotted command-line overrides.

Precedence: command-line overrides beat the YAML, which beats the defaults below. The
resolved configuration is saved as ``EXP/config.yaml``.

Example YAML (recipes/synthetic/conf/sa_cnn_blstm.yaml)::

    data: {manifests: [data/synthetic/manifest.jsonl], folds: data/synthetic/folds.json,
           features: feats/logmel}
    model: {encoder: sa_cnn_blstm, encoder_conf: {input_dim: 384}}
    tasks:
      emotion: {type: emotion, label_set: emo4, weight: 1.0}
      gender: {type: gender, weight: 1.0}
    optim: {name: adam, lr: 1.0e-4, grad_clip_value: 1.0,
            scheduler: {name: inverse_time, decay: 1.0e-6}}
    train: {epochs: 30, batch_size: 40, seed: 0}

Several corpora train together by listing them with what each may train (a plain path trains
every task its utterances have labels for)::

    data:
      folds: data/iemocap/folds.json          # the folds; other corpora join every fold's training set
      manifests:
        - data/iemocap/manifest.jsonl
        - {path: data/librispeech/manifest.jsonl, tasks: [phones, gender], ratio: 0.5,
           features: feats/librispeech/fbank, split: train}

    >>> raw = {"data": {"features": "feats/logmel"}, "tasks": {"emotion": {"type": "emotion"}}}
    >>> cfg = build_config(raw, parse_overrides(["optim.lr", "3e-4", "train.epochs=5"]))
    >>> cfg.optim.lr, cfg.train.epochs, cfg.model.encoder
    (0.0003, 5, 'sa_cnn_blstm')
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sertool.errors import SertoolError


@dataclass
class InputConfig:
    """Where one named model input comes from (an entry of ``data.inputs``).

    Either a feature directory written by ``sertool features`` (``features``), normalised
    (``cmvn``: ``train``, pooled over the fold's training speakers; ``global``; ``speaker``, each
    speaker by its own statistics; ``none``; None: ``data.cmvn``) and then reshaped by an optional
    ``transform`` (``{name: onehot, column: 3, classes: 257}``, see
    :data:`sertool.train.inputs.TRANSFORMS`); or the audio itself (``audio: true``), mono, at
    ``sample_rate`` (None: the encoder's rate).
    """

    features: str | None = None
    audio: bool = False
    sample_rate: int | None = None
    cmvn: str | None = None
    transform: dict[str, Any] | None = None


@dataclass
class AugmentConfig:
    """Training-time variation of the inputs; dev and test never see it.

    ``stored``: the probability that a training utterance is replaced, in an epoch, by one of the
    copies ``sertool features`` stored beside it (augmented ``pitch…``/``speed…``/``noise…``/
    ``reverb…`` copies and random-resampling variants ``rr…``), drawn uniformly among the copies
    whose tag starts with one of ``tags`` (None: all). ``random_resample``: an online random
    resampling of feature inputs (``{segment: [19, 32], factor: [0.5, 1.5]}``, SpeechSplit's),
    one warp shared by inputs the encoder needs aligned. Every draw is a function of
    (``train.seed``, epoch, utterance), so a resumed run draws what an uninterrupted one does.
    """

    stored: float = 0.0
    tags: list[str] | None = None
    random_resample: dict[str, Any] | None = None


@dataclass
class SourceConfig:
    """One corpus of a multi-corpus training set (an entry of ``data.manifests``)."""

    path: str = ""  # its manifest.jsonl
    tasks: list[str] | None = None  # the tasks it trains (None: every task its labels allow)
    ratio: float = 1.0  # utterances drawn from it per epoch = ratio × its training utterances
    # its fixed share of every batch (set on every corpus or none; speecheq.txt Algorithm 1); the
    # first corpus then sets the epoch: one pass over its ratio × training utterances
    share: float | None = None
    features: str | None = None  # its feature directory for a one-input model (None: data.features)
    inputs: dict[str, str] | None = None  # input name → its feature directory (None: data.inputs')
    folds: str | None = None  # its own folds.json, fold k paired with data.folds' fold k (None: data.folds)
    split: str | None = None  # a corpus outside the folds trains on this split only (None: all of it)
    languages: list[str] | None = None  # keep only these languages (training and testing), e.g. [zh]
    emotions: list[str] | None = None  # keep only utterances of these emotions (and those without one)
    max_per_class: int | None = None  # at most this many training utterances per main-task class (seeded)
    # A corpus in the folds contributes only utterances that carry a main-task label (the papers'
    # "5,531 utterances" of IEMOCAP); true lets the others train auxiliary tasks on purpose.
    keep_unlabelled: bool = False


@dataclass
class DataConfig:
    """Where the data is and how utterances become batches.

    A corpus whose utterances appear in its folds file trains, validates and tests by fold; a
    corpus outside it (an ASR corpus next to an emotion corpus) joins every fold's training set.
    ``inputs`` names where each input of the encoder comes from; ``features: DIR`` is the
    shorthand for a one-input model reading a feature directory, and an encoder that reads audio
    needs neither.
    """

    manifests: list[str | SourceConfig] = field(default_factory=list)
    folds: str = ""
    features: str = ""
    inputs: dict[str, InputConfig] = field(default_factory=dict)
    max_seconds: float | None = 7.5  # crop longer utterances (sa_cnn_blstm.txt §4.1, selective_mtl.txt)
    pad_to_max: bool = False  # zero-pad every input to max_seconds, the padding seen as input (selective_mtl.txt §4.1)
    train_fraction: float = 1.0  # keep this fraction of the combined training set (0.5: "half", selective_mtl.txt)
    cmvn: str = "train"  # train: pooled over the fold's training speakers; global; speaker; none
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # An utterance that carries a sequence label (CTC) is never cropped to max_seconds (its
    # transcript would outlive its audio): "keep" it whole, or "drop" it from training (counted).
    long_transcripts: str = "keep"
    num_workers: int = 0

    def sources(self) -> list[SourceConfig]:
        """Every entry of ``manifests`` as a :class:`SourceConfig` (a plain path takes the defaults)."""
        return [SourceConfig(path=m) if isinstance(m, str) else m for m in self.manifests]


@dataclass
class ModelConfig:
    encoder: str = "sa_cnn_blstm"
    encoder_conf: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-4
    encoder_lr: float | None = None  # the encoder's own learning rate (None: lr), e.g. a pretrained SSL model's
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    # constant {warmup_epochs}, inverse_time {decay}, stages {stages, anneal}, cosine {warmup_epochs, min_lr},
    # linear {warmup_epochs, min_lr}, tri_stage {phase_ratio, init_lr_scale, final_lr_scale}
    # (sertool.schedules.lr_factor); in epochs of optimiser updates
    scheduler: dict[str, Any] = field(default_factory=lambda: {"name": "constant"})
    grad_clip_value: float | None = None  # clip each gradient element into [-v, v]
    grad_clip_norm: float | None = None


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 40
    # Dynamic batches (audio models): cut batches by padded seconds (count × longest ≤ this), similar
    # durations together; batch_size then caps the count. None: batches of batch_size utterances.
    batch_seconds: float | None = None
    accumulate: int = 1  # gradient accumulation: one optimiser update every N batches (effective batch N × batch_size)
    seed: int = 0
    device: str = "auto"
    main_task: str = "emotion"  # best checkpoint by this task's validation UA
    # which epoch becomes the model (best.pt): "best" dev UA of the main task, or "last", the end of
    # a fixed schedule as the papers keep it (a dev set then only logs its scores per epoch)
    keep: str = "best"
    patience: int | None = None  # early stopping after this many epochs without improvement
    threads: int | None = None  # torch intra-op threads on CPU (None: torch's default)
    # also save last.pt every N batches (exact mid-epoch resume; with accumulate, at the next update)
    checkpoint_every_steps: int | None = None
    amp: bool = False  # automatic mixed precision (float16 + gradient scaling), on CUDA only
    deterministic: bool = True  # deterministic kernels (cuDNN, cuBLAS) where torch has them
    tensorboard: bool = True  # also log to fold-<name>/tensorboard (needs the tensorboard package)


@dataclass
class InitFromConfig:
    """Initialise named parts of the model from another experiment's bundle of the same fold
    (:mod:`sertool.train.init_from`): ``map`` is target-prefix → source-prefix (``{"": ""}``: all)."""

    exp: str = ""
    map: dict[str, str] = field(default_factory=lambda: {"": ""})


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    # name (fixed, schedule, uncertainty, dwa, gradnorm) and its settings; ``lr``: learning rate of
    # the method's own parameters (default optim.lr)
    weighting: dict[str, Any] = field(default_factory=lambda: {"name": "fixed"})
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    init_from: InitFromConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def task_weights(self) -> dict[str, float]:
        return {name: float(conf.get("weight", 1.0)) for name, conf in self.tasks.items()}


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """``["optim.lr", "3e-4", "train.epochs", "5"]`` → ``{"optim.lr": 3e-4, "train.epochs": 5}``.

    Also accepts ``key=value`` and ``--key value``. Values are parsed as YAML scalars/lists.
    """
    out: dict[str, Any] = {}
    i = 0
    while i < len(args):
        key = args[i].lstrip("-")
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise SertoolError(f"override {key!r} has no value")
            value = args[i + 1]
            i += 2
        out[key] = yaml.safe_load(value)
    return out


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Build a dataclass (recursively) or check a plain value against its annotation."""
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise SertoolError(f"config: {where} must be a mapping")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise SertoolError(f"config: unknown key(s) {', '.join(sorted(unknown))} in {where or 'top level'} "
                               f"(known: {', '.join(sorted(names))})")
        return tp(**{k: _coerce(hints[k], v, f"{where}.{k}".strip(".")) for k, v in value.items()})
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    origin = typing.get_origin(tp)
    if tp is float and isinstance(value, str):
        try:
            return float(value)  # YAML reads "1e-4" (no dot) as a string
        except ValueError:
            pass
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, where)
            except SertoolError:
                continue
        raise SertoolError(f"config: {where} has the wrong type ({value!r})")
    if origin is list:
        if not isinstance(value, list):
            raise SertoolError(f"config: {where} must be a list, got {value!r}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise SertoolError(f"config: {where} must be a mapping, got {value!r}")
        _, item = typing.get_args(tp) or (Any, Any)
        return {k: _coerce(item, v, f"{where}.{k}") for k, v in value.items()}
    check = origin or tp
    if check is Any or (isinstance(check, type) and isinstance(value, check)):
        return value
    raise SertoolError(f"config: {where} must be {getattr(tp, '__name__', tp)}, got {value!r}")


def _set_dotted(d: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
        if not isinstance(d, dict):
            raise SertoolError(f"override {dotted!r}: {k!r} is not a mapping")
    d[keys[-1]] = value


def build_config(raw: dict[str, Any], overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Apply ``overrides`` to a raw mapping and turn it into an :class:`ExperimentConfig`."""
    raw = yaml.safe_load(yaml.safe_dump(raw)) or {}  # deep copy
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    cfg = _coerce(ExperimentConfig, raw, "")
    if not cfg.tasks:
        raise SertoolError("config: no tasks given")
    if cfg.train.main_task not in cfg.tasks:
        raise SertoolError(f"config: train.main_task {cfg.train.main_task!r} is not one of the tasks")
    for i, src in enumerate(cfg.data.sources()):
        unknown = set(src.tasks or []) - set(cfg.tasks)
        if unknown:
            raise SertoolError(f"config: data.manifests[{i}] trains unknown task(s) {', '.join(sorted(unknown))}")
        if not src.path or src.ratio <= 0:
            raise SertoolError(f"config: data.manifests[{i}] needs a path and a ratio > 0")
    if not 0 < cfg.data.train_fraction <= 1:
        raise SertoolError(f"config: data.train_fraction must be in (0, 1], got {cfg.data.train_fraction}")
    if cfg.data.pad_to_max and cfg.data.max_seconds is None:
        raise SertoolError("config: data.pad_to_max needs data.max_seconds")
    if cfg.train.epochs < 1:
        raise SertoolError(f"config: train.epochs must be at least 1, got {cfg.train.epochs}")
    if cfg.train.keep not in ("best", "last"):
        raise SertoolError(f"config: train.keep must be best or last, got {cfg.train.keep!r}")
    if cfg.train.keep == "last" and cfg.train.patience is not None:
        raise SertoolError("config: train.patience stops on the dev UA, which train.keep: last does not follow; "
                           "drop one of them")
    if cfg.train.batch_size < 1:
        raise SertoolError(f"config: train.batch_size must be at least 1, got {cfg.train.batch_size}")
    if cfg.train.batch_seconds is not None and not cfg.train.batch_seconds > 0:
        raise SertoolError(f"config: train.batch_seconds must be positive, got {cfg.train.batch_seconds}")
    if cfg.train.accumulate < 1:
        raise SertoolError(f"config: train.accumulate must be at least 1, got {cfg.train.accumulate}")
    for key in ("lr", "encoder_lr"):
        value = getattr(cfg.optim, key)
        if value is not None and (not math.isfinite(value) or value < 0):
            raise SertoolError(f"config: optim.{key} must be a finite number ≥ 0, got {value}")
    for name, inp in cfg.data.inputs.items():
        if bool(inp.features) == bool(inp.audio):
            raise SertoolError(f"config: data.inputs.{name} needs either features: DIR or audio: true")
    shares = [s.share for s in cfg.data.sources()]
    if any(x is not None for x in shares) and any(x is None for x in shares):
        raise SertoolError("config: data.manifests: give a batch share to every corpus or to none")
    if cfg.data.long_transcripts not in ("keep", "drop"):
        raise SertoolError(f"config: data.long_transcripts must be keep or drop, got {cfg.data.long_transcripts!r}")
    for i, src in enumerate(cfg.data.sources()):
        if src.max_per_class is not None and src.max_per_class < 1:
            raise SertoolError(f"config: data.manifests[{i}].max_per_class must be at least 1")
    if not 0 <= cfg.data.augment.stored <= 1:
        raise SertoolError(f"config: data.augment.stored must be in [0, 1], got {cfg.data.augment.stored}")
    if cfg.init_from is not None and (not cfg.init_from.exp or not cfg.init_from.map):
        raise SertoolError("config: init_from needs exp (an experiment directory or bundle) and a non-empty map")
    return cfg


def with_absolute_paths(cfg: ExperimentConfig, base: str | Path | None = None) -> ExperimentConfig:
    """``cfg`` with every data path made absolute against ``base`` (the working directory), so the
    configuration saved beside an experiment works from any directory.

    Example:
        >>> cfg = build_config({"data": {"folds": "data/f.json", "manifests": ["m.jsonl"]},
        ...                     "tasks": {"emotion": {}}})
        >>> with_absolute_paths(cfg, "/work").data.folds
        '/work/data/f.json'
    """
    root = Path(base) if base is not None else Path.cwd()

    def a(p: str | None) -> str | None:
        return str((root / p).absolute()) if p else p

    d = cfg.data
    sources = [dataclasses.replace(s, path=a(s.path), features=a(s.features), folds=a(s.folds),
                                   inputs=None if s.inputs is None else {k: a(v) for k, v in s.inputs.items()})
               for s in d.sources()]
    inputs = {k: dataclasses.replace(v, features=a(v.features)) for k, v in d.inputs.items()}
    data = dataclasses.replace(d, manifests=sources, folds=a(d.folds), features=a(d.features) or "", inputs=inputs)
    init = cfg.init_from and dataclasses.replace(cfg.init_from, exp=a(cfg.init_from.exp))
    return dataclasses.replace(cfg, data=data, init_from=init)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file and apply ``overrides``."""
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SertoolError(f"config file {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    return build_config(raw, overrides)


def save_config(cfg: ExperimentConfig, path: str | Path) -> None:
    from sertool.stage import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False, allow_unicode=True))
