"""``sertool train``/``eval``/``infer`` on a SpeechEQ-style model: logs, aux scores, intensity answers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sertool.cli.main import app  # noqa: E402
from sertool.cli.testing import invoke  # noqa: E402
from sertool.testing.experiments import tiny_config, write_config  # noqa: E402
from sertool.train.config import build_config  # noqa: E402
from sertool.train.distributed import init_distributed  # noqa: E402
from sertool.train.sources import load_experiment_data  # noqa: E402
from sertool.train.trainer import FoldTrainer  # noqa: E402

TASKS = {"emotion": {"type": "emotion", "label_set": "seqm9", "gamma": 10.0, "weight": 1.0},
         "intensity": {"type": "intensity", "weight": 1.0},
         "phones": {"type": "ctc", "inventory": "cmudict85", "weight": 0.1},
         "gender": {"type": "gender", "gamma": 10.0, "weight": 0.1}}


@pytest.fixture(scope="module")
def experiment(corpus, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exp")
    conf = write_config(root / "speecheq.yaml", tiny_config(
        corpus, data={"features": str(corpus["fbank"])}, tasks=TASKS,
        model={"encoder": "ecapa_tdnn", "encoder_conf": {"input_dim": 80, "channels": 16, "scale": 4,
                                                         "se_bottleneck": 8, "attn_bottleneck": 8, "embed_dim": 16}},
        weighting={"name": "schedule",
                   "stages": [{"epochs": 1}, {"epochs": 1, "to": {"phones": 0.01, "gender": 0.01}}]},
        train={"epochs": 2}))
    invoke("train", conf, "--exp-dir", root / "exp", "--fold", "1")
    return {"exp": root / "exp", "conf": conf}


def test_train_log_has_losses_weights_and_dev_metrics_per_epoch(experiment):
    rows = list(csv.DictReader((experiment["exp"] / "fold-1" / "train_log.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for t in TASKS:
        assert f"loss_{t}" in rows[0] and f"weight_{t}" in rows[0]
    assert float(rows[0]["weight_phones"]) == pytest.approx(0.1)
    assert 0.01 < float(rows[1]["weight_phones"]) < 0.1  # decaying during the second stage
    assert {"dev_ua", "dev_intensity_ccc", "dev_intensity_mse", "dev_phones_per", "dev_gender_acc"} <= set(rows[0])


def test_eval_reports_aux_task_metrics(experiment):
    out = invoke("eval", experiment["exp"], "--partial")  # one fold of four trained
    assert "evaluation" in out and "PARTIAL" in out
    scores = json.loads((experiment["exp"] / "fold-1" / "scores.json").read_text())
    assert set(scores["aux"]) == {"intensity_ccc", "intensity_mse", "phones_per", "gender_acc"}
    assert scores["aux"]["intensity_mse"] >= 0 and scores["aux"]["phones_per"] >= 0
    summary = json.loads((experiment["exp"] / "scores.json").read_text())
    assert "intensity_ccc" in summary["mean"]
    assert summary["complete"] is False and set(summary["missing_folds"]) == {"2", "3", "4"}


def test_infer_prints_intensity(experiment, corpus):
    clip = sorted((corpus["en"] / "audio").rglob("*.wav"))[0]
    answer = json.loads(invoke("infer", experiment["exp"], clip).strip().splitlines()[-1])
    assert answer["emotion"] in answer["probabilities"] and len(answer["probabilities"]) == 9
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 <= answer["intensity"] <= 4.0
    assert answer["gender"] in ("F", "M")
    assert "phones" not in answer  # training-only heads print nothing


def test_changed_settings_are_refused_but_resumable_ones_are_not(experiment):
    result = CliRunner().invoke(app, ["train", str(experiment["conf"]), "--exp-dir", str(experiment["exp"]),
                                      "--fold", "1", "optim.lr", "0.5"])
    assert result.exit_code == 1 and "other settings" in result.output
    out = invoke("train", experiment["conf"], "--exp-dir", experiment["exp"], "--fold", "1",
                 "train.checkpoint_every_steps", "3")
    assert "already trained" in " ".join(out.split())


def test_tensorboard_events_when_the_package_is_installed(corpus, tmp_path):
    pytest.importorskip("tensorboard")
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus, train={"tensorboard": True}))
    invoke("train", conf, "--exp-dir", tmp_path / "exp", "--fold", "1")
    assert list((tmp_path / "exp" / "fold-1" / "tensorboard").glob("events.out.tfevents.*"))


def test_early_stopping_after_patience_epochs_without_improvement(corpus, tmp_path):
    # lr 0: the dev UA of epoch 1 is never beaten, so patience 2 stops after epoch 3 of 10
    cfg = build_config(tiny_config(corpus, optim={"lr": 0.0}, train={"epochs": 10, "patience": 2}))
    trainer = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                          log=lambda _m: None)
    best = trainer.fit()
    assert trainer.stopped_early and trainer.epoch == 3 and best["epoch"] == 1
    again = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                        log=lambda _m: None)
    assert again.fit() == best and again.epoch == 3  # a rerun does not train on


def test_keep_last_makes_the_last_epoch_the_model_and_still_scores_the_dev_set(corpus, tmp_path):
    # lr 0: every epoch has the dev UA of epoch 1, which "best" keeps; "last" keeps epoch 3
    cfg = build_config(tiny_config(corpus, optim={"lr": 0.0}, train={"epochs": 3, "keep": "last"}))
    trainer = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                          log=lambda _m: None)
    assert trainer.fit()["epoch"] == 3
    rows = list(csv.DictReader((tmp_path / "fold-1" / "train_log.csv").open()))
    assert len(rows) == 3 and all(r["dev_ua"] for r in rows)
    assert torch.load(tmp_path / "fold-1" / "checkpoints" / "best.pt", weights_only=True)["epoch"] == 3
