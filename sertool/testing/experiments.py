"""Tiny experiment configurations for tests and examples (a narrow model, one epoch, one thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def tiny_config(corpus: dict[str, Path], **sections: Any) -> dict[str, Any]:
    """A raw experiment config on the fixture corpus: a narrow SA-CNN-BLSTM on log-mels unless told otherwise."""
    conf: dict[str, Any] = {
        "data": {"manifests": [str(corpus["en"] / "manifest.jsonl")], "folds": str(corpus["en"] / "folds.json"),
                 "features": str(corpus["logmel"])},
        "model": {"encoder": "sa_cnn_blstm", "encoder_conf": {"input_dim": 384, "cnn_channels": 8, "lstm_units": 8,
                                                             "attn_dim": 16, "attn_heads": 2, "dropout": 0.5}},
        "tasks": {"emotion": {"type": "emotion", "label_set": "emo4"}, "gender": {"type": "gender"}},
        "optim": {"name": "adam", "lr": 3e-3},
        "train": {"epochs": 1, "batch_size": 8, "seed": 0, "tensorboard": False, "threads": 1},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(conf.get(key), dict):
            conf[key] = {**conf[key], **value}
        else:
            conf[key] = value
    return conf


def write_config(path: Path, conf: dict[str, Any]) -> Path:
    """``conf`` as a YAML file at ``path``."""
    path.write_text(yaml.safe_dump(conf))
    return path
