"""Configuration: YAML → typed objects, overrides beat YAML, unknown keys are refused."""

from pathlib import Path

import pytest

from sertool.errors import SertoolError
from sertool.train.config import load_config, parse_overrides, save_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_overrides_beat_yaml_which_beats_defaults(tmp_path: Path):
    p = write(tmp_path, "tasks: {emotion: {type: emotion}}\noptim: {lr: 1e-3}\n")
    cfg = load_config(p, parse_overrides(["train.epochs", "3", "--optim.weight_decay=0.01"]))
    assert cfg.optim.lr == 1e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.train.epochs == 3 and cfg.optim.weight_decay == 0.01
    assert cfg.train.batch_size == 40  # default


def test_resolved_config_round_trips(tmp_path: Path):
    cfg = load_config(write(tmp_path, "tasks: {emotion: {type: emotion, weight: 0.7}}\n"))
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == cfg
    assert cfg.task_weights() == {"emotion": 0.7}


@pytest.mark.parametrize("text,match", [
    ("tasks: {emotion: {}}\noptim: {lrr: 1}\n", "unknown key"),
    ("tasks: {emotion: {}}\ntrain: {epochs: many}\n", "train.epochs"),
    ("tasks: {gender: {}}\n", "main_task"),
    ("tasks: [\n", "not valid YAML"),
])
def test_bad_configs_are_refused_with_a_reason(tmp_path: Path, text, match):
    with pytest.raises(SertoolError, match=match):
        load_config(write(tmp_path, text))
