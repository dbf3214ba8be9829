"""Models that read raw waveforms train and infer through the same trainer and bundle as feature models.

The waveform encoder here is a small strided 1-D CNN (the shape of end-to-end front ends such as
wav2vec 2.0's feature encoder), registered by this test; the SSL encoders use the same contract.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from sertool.audio import read_audio
from sertool.data.folds import Fold, write_folds
from sertool.data.manifest import read_manifest, write_manifest
from sertool.errors import SertoolError
from sertool.inference import Predictor, find_bundle
from sertool.inference.plan import Limits, split_even
from sertool.inference.records import combine
from sertool.layers.masking import lengths_to_mask
from sertool.models import ENCODERS, Encoder, register_encoder
from sertool.testing.audio import harmonic_tone, make_corpus
from sertool.testing.inference import write_long_recording
from sertool.train.config import build_config
from sertool.train.runner import evaluate_experiment, train_experiment


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


def test_a_long_waveform_model_clip_is_windowed(wave_experiment):
    predictor = Predictor.load(wave_experiment["exp"], device="cpu")
    assert predictor.limits.max_seconds == 1.0  # data.max_seconds, in samples of the audio input
    wave, sr = read_audio(wave_experiment["clip"])
    answer = predictor.predict_wave(np.tile(wave, 3), sr)
    assert answer["windows"] == -(-3 * wave.size // sr) and answer["emotion"] in answer["probabilities"]


# ----------------------------------------------------------------------------- the Python API on a log-mel model


@pytest.fixture(scope="module")
def predictor(tiny_model):
    return Predictor.load(tiny_model, device="cpu")


def tones(*seconds: float) -> list[np.ndarray]:
    return [harmonic_tone(120.0 + 40 * i, s, vibrato=8.0, seed=i) for i, s in enumerate(seconds)]


def test_import_sertool_stays_cheap_and_gives_the_predictor_on_use():
    code = "import sys, sertool; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    import sertool

    assert sertool.Predictor is Predictor and "Predictor" in sertool.__all__


def test_the_model_limits_and_labels(predictor):
    assert predictor.labels == ["neutral", "happy", "angry", "sad"]
    # 3 log-mel frames (25 ms hop) make one output frame of the encoder (pooling by 3); 1 s trained
    assert predictor.limits == Limits(min_seconds=0.05, max_seconds=1.0)


def test_a_batch_answers_as_one_clip_at_a_time(predictor):
    waves = tones(0.4, 0.9, 0.6)
    batch = predictor.predict_batch(waves, 16000)
    for wave, answer in zip(waves, batch):
        alone = predictor.predict_wave(wave, 16000)
        assert answer.keys() == alone.keys() and answer["emotion"] == alone["emotion"]
        assert answer["probabilities"] == pytest.approx(alone["probabilities"], abs=1e-6)


def test_bad_waveforms_raise_alone_and_are_error_records_in_a_batch(predictor):
    nan = tones(0.5)[0]
    nan[4000] = np.nan
    cases = {"non-finite samples (NaN or Inf) at 0.25 s": nan, "silent: no sample louder": np.zeros(8000),
             "too short: 0.010 s, the model needs at least 0.050 s": tones(0.01)[0]}
    for message, wave in cases.items():
        with pytest.raises(SertoolError, match=re.escape(message)):
            predictor.predict_wave(wave, 16000)
    answers = predictor.predict_batch([*cases.values(), tones(0.5)[0]], 16000)
    assert [a.get("error", "")[:20] for a in answers[:3]] == [m[:20] for m in cases]
    assert answers[3]["emotion"] in answers[3]["probabilities"]


def test_a_long_clip_is_the_duration_weighted_mean_of_windows_covering_it(predictor):
    (wave,) = tones(2.5)
    answer = predictor.predict_wave(wave, 16000)
    pieces = split_even(0, wave.size, 16000)  # three windows of 0.83 s: none cut, none tiny
    assert answer["windows"] == 3 and pieces == [(0, 13333), (13333, 26666), (26666, 40000)]
    parts = predictor.predict_batch([wave[a:b] for a, b in pieces], 16000)
    assert answer["probabilities"] == pytest.approx(
        combine(parts, [b - a for a, b in pieces])["probabilities"], abs=1e-6)


def test_a_model_that_fails_on_one_clip_loses_only_that_answer(predictor, monkeypatch):
    original = Predictor._answers

    def fragile(self, inputs):
        if (inputs["feats_lengths"] == 23).any():  # 0.55 s: 1 + 8800 // 400 = 23 frames
            raise RuntimeError("boom")
        return original(self, inputs)

    monkeypatch.setattr(Predictor, "_answers", fragile)
    answers = predictor.predict_batch(tones(0.5, 0.55, 0.7), 16000)
    assert "emotion" in answers[0] and "emotion" in answers[2]
    assert answers[1] == {"error": "the model failed on this clip: RuntimeError: boom"}


def test_segments_of_a_file_and_of_its_waveform_agree(predictor, tmp_path):
    path = write_long_recording(tmp_path / "rec.flac", 9.0, amplitude=0.2, pauses=(2.0, 1.0))
    wave, sr = read_audio(path)
    from_file = predictor.predict_segments(path, segment=3.0, hop=1.5)
    from_wave = predictor.predict_segments(wave, sr, segment=3.0, hop=1.5)
    assert [(r.get("segment"), r["start"], r["end"]) for r in from_file] == [
        (1, 0.0, 3.0), (2, 1.5, 4.5), (3, 3.0, 6.0), (4, 4.5, 7.5), (5, 6.0, 9.0), (None, 0.0, 9.0)]
    for a, b in zip(from_file, from_wave):
        assert a["file"] == str(path) and "file" not in b
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-4)
    assert from_file[-1]["segments"] == 5
    on_silence = predictor.predict_segments(path, split_on_silence=True)
    bounds = [t for r in on_silence[:-1] for t in (r["start"], r["end"])]
    assert bounds == pytest.approx([0, 2.1, 2.9, 5.1, 5.9, 8.1], abs=0.05)  # tone 0–2, 3–5, 6–8 s, padded


def test_many_files_in_workers_answer_as_in_process(predictor, tmp_path):
    for i, wave in enumerate(tones(0.3, 1.7, 0.6, 0.45, 0.8, 2.2)):
        sf.write(tmp_path / f"c{i}.wav", wave, 16000)
    (tmp_path / "silent.wav").write_bytes(b"")
    inline = list(predictor.predict_files([tmp_path], batch_size=2, workers=0))
    forked = list(predictor.predict_files([tmp_path], batch_size=2, workers=2))
    assert [r["file"] for r in inline] == [str(tmp_path / f"c{i}.wav") for i in range(6)] + [
        str(tmp_path / "silent.wav")]
    assert [r.get("windows") for r in inline] == [None, 2, None, None, None, 3, None]
    for a, b in zip(inline, forked):
        assert a.keys() == b.keys()
        if "probabilities" in a:
            assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)


def test_a_long_recording_is_read_in_blocks_with_bounded_memory(predictor, tmp_path, monkeypatch):
    """Peak memory of a 1-minute and a 4-minute recording is the same, and no read is longer than a batch span.

    (The benchmark measures peak RSS for 2 and 20 minutes: benchmarks/infer_bench.py.)
    """
    import sertool.audio

    reads: list[int] = []
    real = sertool.audio.read_mono

    def counting(f, frames=-1):
        reads.append(frames)
        return real(f, frames)

    monkeypatch.setattr(sertool.audio, "read_mono", counting)
    predictor.predict_segments(write_long_recording(tmp_path / "warm.wav", 10.0), segment=1.0)  # caches, once
    peaks = {}
    for minutes in (1, 4):
        path = write_long_recording(tmp_path / f"{minutes}.wav", 60 * minutes, block_seconds=30.0)
        reads.clear()
        tracemalloc.start()
        records = predictor.predict_segments(path, segment=1.0, batch_size=16)
        peaks[minutes] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(records) == 60 * minutes + 1
        assert -1 not in reads and max(reads) <= 16 * 16000  # a batch: 16 one-second windows
    whole = 4 * 60 * 16000 * 4  # the 4-minute recording as float32: 15.4 MB
    assert peaks[4] < 1.25 * peaks[1] + 500_000 and peaks[4] < whole / 5, peaks
