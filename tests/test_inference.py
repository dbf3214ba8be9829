"""Models that read raw waveforms train and infer through the same trainer and bundle as feature models.

The waveform encoder here is a small strided 1-D CNN (the shape of end-to-end front ends such as
wav2vec 2.0's feature encoder), registered by this test; the SSL encoders use the same contract.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from sertool.data.folds import Fold, write_folds  # noqa: E402
from sertool.data.manifest import read_manifest, write_manifest  # noqa: E402
from sertool.inference import Predictor, find_bundle  # noqa: E402
from sertool.layers.masking import lengths_to_mask  # noqa: E402
from sertool.models import ENCODERS, Encoder, register_encoder  # noqa: E402
from sertool.testing.audio import make_corpus  # noqa: E402
from sertool.train.config import build_config  # noqa: E402
from sertool.train.runner import evaluate_experiment, train_experiment  # noqa: E402


class WaveCNN(Encoder):
    """Strided convolutions over samples (stride 160: 10 ms frames at 16 kHz), masked mean pooling."""

    inputs = {"waveform": "audio"}

    def __init__(self, channels: int = 8):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 400, stride=160)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.output_dims = {"pooled": channels, "frames": channels}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.conv2.parameters())

    def forward(self, waveform: torch.Tensor, waveform_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        wave, lengths = waveform, waveform_lengths
        assert wave.ndim == 2  # (N, S) samples, not features
        x = torch.relu(self.conv1(nn.functional.pad(wave, (0, 400))[:, None]))  # (N, C, T)
        x = torch.relu(self.conv2(x)).transpose(1, 2)  # (N, T, C)
        frame_lengths = (lengths // 160).clamp(min=1, max=x.shape[1])
        mask = lengths_to_mask(frame_lengths, x.shape[1])[..., None]
        pooled = (x * mask).sum(1) / mask.sum(1)
        return {"pooled": pooled, "frames": x, "frame_lengths": frame_lengths}


if "test_wave_cnn" not in ENCODERS:
    register_encoder("test_wave_cnn")(WaveCNN)


@pytest.fixture(scope="module")
def wave_experiment(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("wave")
    manifest = make_corpus(root / "data", num_utts=16, speakers=4)
    utts = read_manifest(manifest)
    emotions = ["neutral", "happy", "angry", "sad"]
    for i, u in enumerate(utts):  # labels the generator does not give
        u.emotion, u.gender = emotions[i % 4], ("F", "M")[i % 2]
    write_manifest(manifest, utts)
    ids = [u.id for u in utts]
    write_folds(root / "data" / "folds.json", "custom", [Fold("1", train=ids[:12], dev=ids[12:14], test=ids[14:])])
    cfg = build_config({
        "data": {"manifests": [str(manifest)], "folds": str(root / "data" / "folds.json"), "max_seconds": 1.0},
        "model": {"encoder": "test_wave_cnn", "encoder_conf": {"channels": 8}},
        "tasks": {"emotion": {"type": "emotion"}, "gender": {"type": "gender"}},
        "optim": {"lr": 1e-2},
        "train": {"epochs": 2, "batch_size": 4, "tensorboard": False, "threads": 1},
    })
    train_experiment(cfg, root / "exp")
    return {"root": root, "exp": root / "exp", "clip": Path(utts[-1].audio)}


def test_waveform_model_trains_and_evaluates_without_features(wave_experiment):
    summary = evaluate_experiment(wave_experiment["exp"])
    assert 0 <= summary["mean"]["ua"] <= 1 and "gender_acc" in summary["mean"]
    assert not (wave_experiment["root"] / "feats").exists()


def test_waveform_bundle_infers_from_audio(wave_experiment):
    bundle = find_bundle(wave_experiment["exp"])
    assert bundle.name == "best.pt"
    predictor = Predictor.load(wave_experiment["exp"], device="cpu")
    answer = predictor.predict_file(wave_experiment["clip"])
    assert answer["emotion"] in answer["probabilities"] and answer["gender"] in ("F", "M")
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    json.dumps(answer)
