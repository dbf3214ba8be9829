"""Every model and every loss weighting trains for an epoch on the synthetic corpus, with the
tasks its paper uses, and its training loss falls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from sertool.evaluation.predict import predict  # noqa: E402
from sertool.testing.experiments import tiny_config  # noqa: E402
from sertool.train.config import build_config  # noqa: E402
from sertool.train.distributed import init_distributed  # noqa: E402
from sertool.train.sources import load_experiment_data  # noqa: E402
from sertool.train.trainer import FoldTrainer  # noqa: E402

ECAPA = {"encoder": "ecapa_tdnn", "encoder_conf": {"input_dim": 80, "channels": 16, "scale": 4, "se_bottleneck": 8,
                                                   "attn_bottleneck": 8, "embed_dim": 16}}
SA_FBANK = {"encoder": "sa_cnn_blstm", "encoder_conf": {"input_dim": 80, "cnn_channels": 8, "lstm_units": 8,
                                                        "attn_dim": 16, "attn_heads": 2}}
SSL_TASKS = {  # ssl_mtl.txt: emotion + gender (α) + speaker (β) + character CTC (γ)
    "emotion": {"type": "emotion", "label_set": "emo4", "weight": 1.0},
    "gender": {"type": "gender", "weight": 0.4},
    "speaker": {"type": "speaker", "weight": 0.6},
    "chars": {"type": "ctc", "inventory": "char32", "field": "text", "weight": 0.1},
}


def speecheq(corpus: dict[str, Path]) -> dict[str, Any]:
    """SpeechEQ: ESC (focal γ = 10) + EIS (CCC) + phone CTC + gender, an extra corpus for phones and gender."""
    return tiny_config(
        corpus,
        data={"features": str(corpus["fbank"]), "manifests": [
            str(corpus["en"] / "manifest.jsonl"),
            {"path": str(corpus["zh"] / "manifest.jsonl"), "tasks": ["phones_zh", "gender"], "ratio": 1.0}]},
        model=ECAPA,
        tasks={"emotion": {"type": "emotion", "label_set": "seqm9", "gamma": 10.0, "weight": 1.0},
               "intensity": {"type": "intensity", "weight": 1.0},
               "phones_en": {"type": "ctc", "inventory": "cmudict85", "weight": 0.1},
               "phones_zh": {"type": "ctc", "inventory": "pinyin202", "weight": 0.1},
               "gender": {"type": "gender", "gamma": 10.0, "weight": 0.1}},
        weighting={"name": "schedule", "stages": [
            {"epochs": 0.5}, {"epochs": 0.5, "to": {"phones_en": 0.01, "phones_zh": 0.01, "gender": 0.01}}]},
        optim={"name": "adam", "lr": 3e-3, "weight_decay": 1e-5,
               "scheduler": {"name": "stages", "stages": [{"epochs": 0.5}, {"epochs": 0.5, "to": 3e-4}]}},
    )


def selective(corpus: dict[str, Path]) -> dict[str, Any]:
    """Selective MTL: emotion (λ = 0.8) + style (1 − λ) with no style loss for neutral; the channel as style."""
    return tiny_config(
        corpus,
        data={"features": str(corpus["fbank"]), "max_seconds": 3.0, "pad_to_max": True, "train_fraction": 0.5},
        model={"encoder": "blstm_attention", "encoder_conf": {"input_dim": 80, "lstm_units": 8, "attn_dim": 16,
                                                              "attn_heads": 2, "fc_dims": [32, 16]}},
        tasks={"emotion": {"type": "emotion", "label_set": "emo4", "weight": 0.8, "class_weights": {"neutral": 1.25}},
               "style": {"type": "style", "field": "extra.channel", "selective": True, "weight": 0.2,
                         "map": {"studio": "acted", "telephone": "spontaneous"}}},
    )


CASES = {
    "sa_cnn_blstm/fixed": lambda c: tiny_config(c, optim={"name": "adam", "lr": 3e-3, "grad_clip_value": 1.0,
                                                          "scheduler": {"name": "inverse_time", "decay": 1e-6}}),
    "ecapa_tdnn/schedule": speecheq,
    "blstm_attention/fixed": selective,
    "uncertainty": lambda c: tiny_config(c, data={"features": str(c["fbank"])}, model=SA_FBANK, tasks=SSL_TASKS,
                                         weighting={"name": "uncertainty", "lr": 0.01}),
    "gradnorm": lambda c: tiny_config(c, data={"features": str(c["fbank"])}, model=SA_FBANK, tasks=SSL_TASKS,
                                      weighting={"name": "gradnorm", "alpha": 1.5, "lr": 0.01}),
    "dwa": lambda c: tiny_config(c, data={"features": str(c["fbank"])}, model=SA_FBANK, train={"epochs": 3},
                                 tasks={**SSL_TASKS, "recon": {"type": "reconstruction", "lstm_units": 8}},
                                 weighting={"name": "dwa", "temperature": 2.0}),
}


def train_loss(trainer: FoldTrainer) -> float:
    """The training set's loss with the configured (initial) weights, dropout off."""
    pred = predict(trainer.net, trainer._loader(trainer.train_set), trainer.device)
    return sum(trainer.weighting.initial[k] * v for k, v in pred["_loss"].items())


@pytest.mark.parametrize("case", CASES)
def test_trains_an_epoch_and_the_loss_falls(corpus, tmp_path, case):
    cfg = build_config(CASES[case](corpus))
    data = load_experiment_data(cfg)
    trainer = FoldTrainer(cfg, data, 0, tmp_path / "fold-1", init_distributed("cpu"), log=lambda _m: None)
    torch.manual_seed(0)
    before = train_loss(trainer)
    epochs = cfg.train.epochs
    for _ in range(epochs):
        row = trainer._train_epoch()
        trainer.epoch, trainer.step, trainer.sums = trainer.epoch + 1, 0, {}
    after = train_loss(trainer)
    assert after < before, (case, before, after)
    assert {f"weight_{t}" for t in cfg.tasks} <= set(row)  # the weights in use, logged every epoch
    if case == "dwa":  # epoch 3 uses the ratio of epochs 1 and 2
        assert any(abs(row[f"weight_{t}"] - cfg.tasks[t]["weight"]) > 1e-6 for t in cfg.tasks)
