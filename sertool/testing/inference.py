"""A trained model and long recordings for inference tests and benchmarks, made in seconds.

:func:`train_tiny_model` trains an SA-CNN-BLSTM on log-mels for one epoch on a few synthetic
tones (labels assigned in turn): what it answers is meaningless, how it answers is what the
tests check. :func:`write_long_recording` writes hours of quiet audio a block at a time.

Example::

    exp = train_tiny_model(tmp / "tiny", max_seconds=1.0)        # exp/fold-1/checkpoints/best.pt
    write_long_recording(tmp / "20min.wav", 20 * 60)              # 16 kHz, 16-bit, written in blocks
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sertool.testing.audio import make_corpus

#: A narrow encoder: trains and answers in milliseconds.
TINY_ENCODER = {"input_dim": 384, "cnn_channels": 8, "lstm_units": 8, "attn_dim": 16, "attn_heads": 2, "dropout": 0.5}


def train_tiny_model(root: Path, max_seconds: float | None = 1.0, encoder_conf: dict[str, Any] | None = None,
                     num_utts: int = 8, epochs: int = 1) -> Path:
    """Train fold 1 of a tiny experiment under ``root`` (corpus, log-mels, model); returns ``root/exp``.

    The main task is ``emotion`` (emo4) with a ``gender`` head; ``max_seconds`` is the training
    length (clips longer than it are answered from windows). ``encoder_conf`` replaces
    :data:`TINY_ENCODER` (``{}`` gives the paper-sized SA-CNN-BLSTM).
    """
    from sertool.data.folds import Fold, write_folds
    from sertool.data.manifest import read_manifest, write_manifest
    from sertool.features.pipeline import extract_features
    from sertool.testing.experiments import tiny_config
    from sertool.train.config import build_config
    from sertool.train.runner import train_experiment

    root = Path(root)
    data = root / "data"
    manifest = make_corpus(data, num_utts=num_utts, speakers=2)
    utts = read_manifest(manifest)
    emotions = ["neutral", "happy", "angry", "sad"]
    for i, u in enumerate(utts):
        u.emotion = emotions[i % 4]
    write_manifest(manifest, utts)
    ids = [u.id for u in utts]
    write_folds(data / "folds.json", "custom", [Fold("1", train=ids[:-2], dev=ids[-2:-1], test=ids[-1:])])
    extract_features([manifest], root / "feats", "logmel", jobs=1)
    conf = tiny_config({"en": data, "logmel": root / "feats"},
                       data={"manifests": [str(manifest)], "folds": str(data / "folds.json"),
                             "features": str(root / "feats"), "max_seconds": max_seconds},
                       model={"encoder": "sa_cnn_blstm",
                              "encoder_conf": {**TINY_ENCODER, "dropout": 0.0}
                              if encoder_conf is None else {"input_dim": 384, **encoder_conf}},
                       train={"epochs": epochs, "batch_size": 4, "seed": 0, "tensorboard": False, "threads": 1})
    train_experiment(build_config(conf), root / "exp", folds=["1"])
    return root / "exp"


def write_long_recording(path: Path, seconds: float, sample_rate: int = 16000, block_seconds: float = 10.0,
                         amplitude: float = 0.02, pauses: tuple[float, float] | None = None, seed: int = 0,
                         subtype: str = "PCM_16") -> Path:
    """Write ``seconds`` of a quiet tone (220 Hz, swelling every 4 s) in faint noise, a block at a time.

    ``pauses=(speech, pause)``: the tone plays ``speech`` seconds, then ``pause`` seconds of the
    noise alone (-70 dBFS), over and over. Memory: a few blocks, whatever the length.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     info = sf.info(str(write_long_recording(Path(d) / "long.wav", 25.0, block_seconds=10.0)))
        >>> info.frames, info.samplerate
        (400000, 16000)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    total = int(round(seconds * sample_rate))
    block = max(1, int(block_seconds * sample_rate))
    # the tone (integer cycles per second) and its 4 s swell repeat every 4 s: one period, tiled;
    # the noise is one block's worth, reused (fresh noise would cost more than the rest together)
    period = 4 * sample_rate
    t = np.arange(period) / sample_rate
    tone = amplitude * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t)) * np.sin(2 * np.pi * 220.0 * t)
    noise = 10 ** (-70 / 20) * np.random.default_rng(seed).standard_normal(block)
    with sf.SoundFile(str(path), "w", samplerate=sample_rate, channels=1, subtype=subtype) as f:
        for start in range(0, total, block):
            n = min(block, total - start)
            x = np.take(tone, np.arange(start, start + n) % period)
            if pauses is not None:
                times = np.arange(start, start + n) / sample_rate
                x = np.where(np.mod(times, pauses[0] + pauses[1]) < pauses[0], x, 0.0)
            f.write((x + noise[:n]).astype(np.float32))
    return path
