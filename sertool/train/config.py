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
    optim: {name: adam, lr: 1.0e-4, grad_clip_value: 1.0}
    train: {epochs: 30, batch_size: 40, seed: 0}

    >>> cfg = load_config("conf.yaml", parse_overrides(["optim.lr", "3e-4"]))
    >>> cfg.optim.lr
    0.0003
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sertool.errors import SertoolError


@dataclass
class DataConfig:
    """Where the data is and how utterances become batches."""

    manifests: list[str] = field(default_factory=list)
    folds: str = ""
    features: str = ""
    max_seconds: float | None = 7.5  # crop longer utterances (sa_cnn_blstm.txt §4.1, selective_mtl.txt)
    cmvn: str = "train"  # train: pooled over the fold's training speakers; global; speaker; none
    num_workers: int = 0


@dataclass
class ModelConfig:
    encoder: str = "sa_cnn_blstm"
    encoder_conf: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    lr_decay: float = 0.0  # Keras-style per-update decay: lr / (1 + decay · step)
    grad_clip_value: float | None = None  # clip each gradient element into [-v, v]
    grad_clip_norm: float | None = None


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 40
    seed: int = 0
    device: str = "auto"
    main_task: str = "emotion"  # best checkpoint by this task's validation UA
    patience: int | None = None  # early stopping after this many epochs without improvement
    threads: int | None = None  # torch intra-op threads on CPU (None: torch's default)


@dataclass
class ExperimentConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    weighting: dict[str, Any] = field(default_factory=lambda: {"name": "fixed"})
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

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
    return cfg


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
