"""Experiments are checked before they are trusted, and every refusal is one line with a non-zero exit."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import yaml

from sertool.cli.testing import invoke, run_cli
from sertool.data.folds import read_folds
from sertool.testing.experiments import tiny_config, write_config


def refused(*args: object) -> str:
    """Run a command that must fail: one ``error:`` line, exit 1, no traceback."""
    result = run_cli(*args)
    assert result.exit_code == 1, result.raw
    lines = [line for line in result.raw.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.raw
    assert "Traceback" not in result.raw
    return lines[0]


def config_with_folds(corpus, tmp_path: Path, edit) -> Path:
    """The fixture's configuration with a copy of its folds file changed by ``edit(protocol, folds)``."""
    protocol, folds = read_folds(corpus["en"] / "folds.json")
    protocol = edit(folds) or protocol
    path = tmp_path / "folds.json"
    folds_json = {"protocol": protocol, "folds": [f.to_dict() for f in folds]}
    path.write_text(json.dumps(folds_json))
    return write_config(tmp_path / "c.yaml", tiny_config(corpus, data={"folds": str(path)}))


@pytest.fixture(scope="module")
def one_fold(corpus, tmp_path_factory) -> dict[str, Path]:
    """Fold 1 of 4 trained for one epoch; the configuration names relative paths."""
    root = tmp_path_factory.mktemp("one_fold")
    conf = tiny_config(corpus)
    rel = {"manifests": [os.path.relpath(corpus["en"] / "manifest.jsonl", root)],
           "folds": os.path.relpath(corpus["en"] / "folds.json", root),
           "features": os.path.relpath(corpus["logmel"], root)}
    conf["data"].update(rel)
    path = write_config(root / "c.yaml", conf)
    cwd = os.getcwd()
    os.chdir(root)  # relative paths resolve against the directory `sertool train` runs in
    try:
        invoke("train", "c.yaml", "--exp-dir", "exp", "--fold", "1")
    finally:
        os.chdir(cwd)
    return {"root": root, "exp": root / "exp", "conf": path}


def test_folds_naming_utterances_the_manifests_lack_are_refused(corpus, tmp_path):
    def edit(folds):
        folds[0].test.append("synthetic/not-in-any-manifest")

    line = refused("train", config_with_folds(corpus, tmp_path, edit), "--exp-dir", tmp_path / "exp")
    assert "1 id(s) that no manifest" in line and "synthetic/not-in-any-manifest" in line


def test_an_utterance_in_training_and_test_is_refused(corpus, tmp_path):
    def edit(folds):
        folds[0].train.append(folds[0].test[0])

    line = refused("train", config_with_folds(corpus, tmp_path, edit), "--exp-dir", tmp_path / "exp")
    assert "in both training and test" in line


def test_a_leaking_speaker_is_refused_under_a_speaker_independent_protocol(corpus, tmp_path):
    def edit(folds):  # move one test utterance into training: its speaker is now on both sides
        folds[0].train.append(folds[0].test.pop())

    line = refused("train", config_with_folds(corpus, tmp_path, edit), "--exp-dir", tmp_path / "exp")
    assert "must be speaker-independent" in line


def test_a_speaker_dependent_protocol_trains_and_its_scores_say_so(corpus, tmp_path):
    def edit(folds):
        folds[0].train.append(folds[0].test.pop())
        return "stratified-kfold"

    conf = config_with_folds(corpus, tmp_path, edit)
    out = invoke("train", conf, "--exp-dir", tmp_path / "exp", "--fold", "1")
    assert "speaker-dependent folds" in " ".join(out.split())
    out = invoke("eval", tmp_path / "exp", "--partial")
    assert "SPEAKER-DEPENDENT" in out
    fold = json.loads((tmp_path / "exp" / "fold-1" / "scores.json").read_text())
    summary = json.loads((tmp_path / "exp" / "scores.json").read_text())
    assert fold["speaker_independent"] is False and fold["leaking_speakers"] == 1
    assert summary["speaker_independent"] is False and summary["protocol"] == "stratified-kfold"


def test_eval_refuses_missing_folds_unless_partial(one_fold):
    line = refused("eval", one_fold["exp"])
    assert "incomplete (3 of 4 folds" in line and "--partial" in line
    invoke("eval", one_fold["exp"], "--partial")
    summary = json.loads((one_fold["exp"] / "scores.json").read_text())
    assert summary["complete"] is False and list(summary["folds"]) == ["1"]


def test_eval_refuses_a_fold_stopped_before_its_last_epoch(one_fold, tmp_path):
    exp = tmp_path / "exp"
    (exp / "fold-1").mkdir(parents=True)
    for name in ("config.yaml",):
        (exp / name).write_bytes((one_fold["exp"] / name).read_bytes())
    for f in (one_fold["exp"] / "fold-1" / "checkpoints").iterdir():
        (exp / "fold-1" / "checkpoints").mkdir(exist_ok=True)
        (exp / "fold-1" / "checkpoints" / f.name).write_bytes(f.read_bytes())
    conf = yaml.safe_load((exp / "config.yaml").read_text())
    conf["train"]["epochs"] = 3  # the run was meant to go on for two more epochs
    (exp / "config.yaml").write_text(yaml.safe_dump(conf))
    line = refused("eval", exp)
    assert "fold 1: stopped after epoch 1 of 3" in line


def test_the_saved_configuration_works_from_any_directory(one_fold, tmp_path, monkeypatch):
    saved = yaml.safe_load((one_fold["exp"] / "config.yaml").read_text())
    assert all(Path(p).is_absolute() for p in (saved["data"]["folds"], saved["data"]["features"]))
    monkeypatch.chdir(tmp_path)
    invoke("eval", one_fold["exp"], "--partial")


@pytest.mark.parametrize("override, message", [
    (["train.epochs", "0"], "train.epochs must be at least 1, got 0"),
    (["optim.lr", "nan"], "optim.lr must be a finite number"),
    (["train.batch_size", "-4"], "train.batch_size must be at least 1"),
])
def test_impossible_settings_are_one_line(corpus, tmp_path, override, message):
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus))
    assert message in refused("train", conf, "--exp-dir", tmp_path / "exp", *override)


def test_an_encoder_built_for_other_features_names_both_sizes(corpus, tmp_path):
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus))
    line = refused("train", conf, "--exp-dir", tmp_path / "exp", "model.encoder_conf.input_dim", "80")
    assert "384 dimensions" in line and "built for 80" in line


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file", "proc"])
def test_unwritable_outputs_are_one_line_for_every_stage(corpus, one_fold, tmp_path, where):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = {"under-a-file": blocker / "out", "is-a-file": blocker, "proc": Path("/proc/sertool-out")}[where]
    manifest = corpus["en"] / "manifest.jsonl"
    refused("prep", "synthetic", out, "--speakers", 2, "--per-class", 1)
    refused("features", manifest, out, "--extractor", "fbank")
    refused("train", one_fold["conf"], "--exp-dir", out)


def test_a_second_train_into_a_live_experiment_is_refused(corpus, tmp_path):
    from sertool.stage import output_lock

    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus))
    with output_lock(tmp_path / "exp", "train"):  # this process holds it; a child would be refused
        import subprocess
        import sys

        result = subprocess.run([sys.executable, "-m", "sertool", "train", str(conf), "--exp-dir",
                                 str(tmp_path / "exp")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and f"pid {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("content", [b"", os.urandom(4096), pickle.dumps({"model": object()})],
                         ids=["empty", "random-bytes", "foreign-pickle"])
def test_bad_model_files_are_one_line_without_unpickling_advice(tmp_path, content, corpus):
    bad = tmp_path / "model.pt"
    bad.write_bytes(content)
    clip = next(Path(corpus["en"]).rglob("*.wav"))
    line = refused("infer", bad, clip)
    assert "weights_only" not in line and str(bad) in line


def test_an_experiment_without_config_is_one_line(tmp_path):
    (tmp_path / "exp" / "fold-1" / "checkpoints").mkdir(parents=True)
    assert "not an experiment directory" in refused("eval", tmp_path / "exp")


@pytest.mark.parametrize("device, message", [("cuda:7", "CUDA is not available"), ("tpu", "unknown device"),
                                             ("meta", "not supported")])
def test_a_device_that_does_not_exist_is_one_line(one_fold, corpus, device, message):
    clip = next(Path(corpus["en"]).rglob("*.wav"))
    assert message in refused("infer", one_fold["exp"], clip, "--device", device)
