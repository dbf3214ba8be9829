"""Helpers shared by the training tests (imported by path: the tests use --import-mode=importlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from sertool.cli.main import app


def invoke(*args: Any) -> str:
    """Run a ``sertool`` command in-process; fail the test with its output if it fails."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


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
    path.write_text(yaml.safe_dump(conf))
    return path
