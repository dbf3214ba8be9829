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
    ("tasks: {emotion: {}}\ntrain: {keep: first}\n", "train.keep must be best or last"),
    ("tasks: {emotion: {}}\ntrain: {keep: last, patience: 3}\n", "train.patience"),
])
def test_bad_configs_are_refused_with_a_reason(tmp_path: Path, text, match):
    with pytest.raises(SertoolError, match=match):
        load_config(write(tmp_path, text))


def test_manifests_take_paths_or_corpus_entries_and_round_trip(tmp_path: Path):
    p = write(tmp_path, "tasks: {emotion: {}, gender: {}}\n"
                        "data:\n  manifests:\n    - a/manifest.jsonl\n"
                        "    - {path: b/manifest.jsonl, tasks: [gender], ratio: 0.5, split: train}\n")
    cfg = load_config(p, parse_overrides(["optim.scheduler", "{name: inverse_time, decay: 1.0e-6}"]))
    a, b = cfg.data.sources()
    assert a.path == "a/manifest.jsonl" and a.tasks is None and a.ratio == 1.0
    assert b.tasks == ["gender"] and b.ratio == 0.5 and b.split == "train" and isinstance(b.ratio, float)
    assert cfg.optim.scheduler == {"name": "inverse_time", "decay": 1e-6}
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == cfg


def test_training_defaults():
    cfg = load_config_text("tasks: {emotion: {}}\n")
    t = cfg.train
    assert (t.checkpoint_every_steps, t.amp, t.deterministic, t.tensorboard) == (None, False, True, True)
    assert cfg.data.train_fraction == 1.0 and cfg.data.pad_to_max is False and cfg.weighting == {"name": "fixed"}


@pytest.mark.parametrize("text,match", [
    ("tasks: {emotion: {}}\ndata: {manifests: [{path: x, tasks: [speaker]}]}\n", "unknown task"),
    ("tasks: {emotion: {}}\ndata: {manifests: [{paht: x}]}\n", "wrong type"),
    ("tasks: {emotion: {}}\ndata: {train_fraction: 0}\n", "train_fraction"),
    ("tasks: {emotion: {}}\ndata: {pad_to_max: true, max_seconds: null}\n", "pad_to_max"),
])
def test_bad_data_settings_are_refused(tmp_path: Path, text, match):
    with pytest.raises(SertoolError, match=match):
        load_config(write(tmp_path, text))


def load_config_text(text: str):
    import yaml

    from sertool.train.config import build_config

    return build_config(yaml.safe_load(text))
