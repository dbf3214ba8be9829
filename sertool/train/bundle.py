"""The model bundle: what a trained fold is, for ``sertool eval``, ``sertool infer`` and Python.

A bundle (``EXP/fold-<name>/checkpoints/best.pt``) is self-contained: the resolved
configuration, the weights, every named input's :class:`~sertool.train.inputs.InputSpec` (the
extractor that made it, its normalisation as training fitted it, transform, crop/pad length),
each task's description (class names), the fold's training speakers, the epoch and its dev UA,
and the sertool version and commit that trained it.
Beside it, ``best.json`` holds the small part (fold, epoch, dev UA), so choosing the best fold
of an experiment reads no weights. This module writes bundles (:func:`save_bundle`), finds them
(:func:`find_bundle`) and rebuilds model and inputs from one (:class:`Bundle`); ``eval`` and
``infer`` both go through :meth:`Bundle.model_inputs`, so a test utterance gets the same input
in both.

Example::

    bundle = Bundle.load(find_bundle("exp/sa_cnn_blstm"))       # the fold with the best dev UA
    bundle.model(**batch["inputs"])                               # eval: inputs from feature shards
    bundle.specs["feats"].from_audio(wave, 16000)                 # infer: the same input from audio
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sertool.errors import SertoolError
from sertool.models.multitask import MultiTaskModel
from sertool.stage import atomic_write_json
from sertool.train.checkpoint import load_checkpoint, save_checkpoint
from sertool.train.config import ExperimentConfig, build_config
from sertool.train.inputs import InputSpec, ModelInputs
from sertool.version import provenance

BUNDLE_FORMAT = 2
META_NAME = "best.json"


def build_model(cfg: ExperimentConfig) -> MultiTaskModel:
    """The configured model, untrained."""
    return MultiTaskModel.build(cfg.model.encoder, cfg.model.encoder_conf, cfg.tasks)


def make_bundle(net: MultiTaskModel, cfg: ExperimentConfig, specs: dict[str, InputSpec], train_speakers: list[str],
                fold: str, epoch: int, dev_ua: float) -> dict[str, Any]:
    """The bundle of a trained model (tensors, numbers, strings, lists and dicts only).

    The encoder's configuration is its portable form (:meth:`~sertool.models.Encoder.portable_conf`):
    an encoder initialised from pretrained weights is rebuilt from the bundle with no weights file.
    """
    config = cfg.to_dict()
    config["model"]["encoder_conf"] = net.encoder.portable_conf(cfg.model.encoder_conf)
    return {
        "format": BUNDLE_FORMAT,
        "model": net.state_dict(),
        "config": config,
        "inputs": {name: spec.to_dict() for name, spec in specs.items()},
        "tasks": {name: {"type": cfg.tasks[name].get("type", name), **task.describe()}
                  for name, task in net.tasks.items()},
        "train_speakers": sorted(train_speakers),
        "fold": fold,
        "epoch": epoch,
        "dev_ua": dev_ua,
        "sertool": provenance(),  # version and commit that trained it (for the model card)
    }


def save_bundle(path: str | Path, bundle: dict[str, Any]) -> None:
    """Write the bundle, then its ``best.json`` summary (each atomically)."""
    path = Path(path)
    save_checkpoint(path, bundle)
    atomic_write_json(path.with_name(META_NAME), {k: bundle[k] for k in ("fold", "epoch", "dev_ua")})


def _dev_ua(path: Path) -> float:
    meta = path.with_name(META_NAME)
    try:
        ua = float(json.loads(meta.read_text(encoding="utf-8"))["dev_ua"])
    except (OSError, ValueError, KeyError, TypeError):  # no summary (or a damaged one): read the bundle
        ua = float(load_checkpoint(path)["dev_ua"])
    return -1.0 if math.isnan(ua) else ua


def find_bundle(path: str | Path, fold: str | None = None) -> Path:
    """The bundle file: ``path`` itself, or the chosen fold's ``best.pt`` in an experiment directory.

    Without ``fold``, the fold whose best checkpoint has the highest dev UA is chosen (read from
    each fold's ``best.json``).
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise SertoolError(f"model not found: {path} (give an experiment directory or a .pt file)")
    candidates = sorted(path.glob("fold-*/checkpoints/best.pt"))
    if fold is not None:
        candidates = [c for c in candidates if c.parent.parent.name == f"fold-{fold}"]
        if not candidates:
            raise SertoolError(f"no trained fold {fold!r} in {path}")
    if not candidates:
        raise SertoolError(f"no trained model in {path} (expected fold-*/checkpoints/best.pt)")
    if len(candidates) == 1:
        return candidates[0]
    return max(candidates, key=lambda c: (_dev_ua(c), str(c)))


@dataclass
class Bundle:
    """A loaded bundle: configuration, model (eval mode, on ``device``), input specs and the rest."""

    raw: dict[str, Any]
    cfg: ExperimentConfig
    model: MultiTaskModel
    specs: dict[str, InputSpec]

    @classmethod
    def from_dict(cls, raw: dict[str, Any], device: str | torch.device = "cpu") -> Bundle:
        if raw.get("format") != BUNDLE_FORMAT:
            raise SertoolError("this model bundle was written by an older sertool (no named inputs); retrain it "
                               "with this version")
        cfg = build_config(raw["config"])
        model = build_model(cfg)
        model.load_state_dict(raw["model"])
        specs = {name: InputSpec.from_dict(d) for name, d in raw["inputs"].items()}
        return cls(raw, cfg, model.to(device).eval(), specs)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Bundle:
        return cls.from_dict(load_checkpoint(path, device), device)

    def model_inputs(self, readers: dict[str, Any] | None = None) -> ModelInputs:
        """How items become this model's inputs (feature ``readers`` for stored features; none for audio)."""
        return ModelInputs(self.specs, readers or {}, self.model.encoder.aligned_inputs)

    @property
    def main_task(self) -> str:
        return self.cfg.train.main_task

    @property
    def fold(self) -> str:
        return str(self.raw["fold"])

    @property
    def epoch(self) -> int:
        return int(self.raw["epoch"])

    @property
    def dev_ua(self) -> float:
        """The dev UA of the kept epoch (NaN without a dev set)."""
        return float(self.raw["dev_ua"])

    @property
    def train_speakers(self) -> list[str]:
        return list(self.raw["train_speakers"])
