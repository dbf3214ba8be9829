"""Running a trained model on new audio (``sertool infer``).

A model bundle (``EXP/fold-*/checkpoints/best.pt``) is self-contained: it rebuilds the feature
extractor, the normalisation and the model. Any sample rate or channel count soundfile reads is
accepted: audio is down-mixed and resampled to the extractor's rate.

Example:
    >>> predictor = Predictor.load("exp/sa_cnn_blstm")          # the fold with the best dev UA
    >>> predictor.predict_file("clip.wav")
    {'file': 'clip.wav', 'emotion': 'angry', 'probabilities': {'neutral': 0.02, ...}, 'gender': 'F', ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from sertool.audio import read_audio
from sertool.errors import SertoolError
from sertool.train.checkpoint import load_checkpoint
from sertool.train.runner import load_bundle_model
from sertool.train.trainer import max_frames, resolve_device


def find_bundle(path: str | Path, fold: str | None = None) -> Path:
    """The checkpoint file to load: ``path`` itself, or the chosen fold's ``best.pt`` in an experiment.

    Without ``fold``, the fold whose best checkpoint has the highest dev UA is chosen.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise SertoolError(f"model not found: {path} (give an experiment directory or a .pt file)")
    candidates = sorted(path.glob("fold-*/checkpoints/best.pt"))
    if fold is not None:
        candidates = [c for c in candidates if c.parent.parent.name == f"fold-{fold}"]
        if not candidates:
            raise SertoolError(f"no trained fold {fold!r} in {path}")
    if not candidates:
        raise SertoolError(f"no trained model in {path} (expected fold-*/checkpoints/best.pt)")
    if len(candidates) == 1:
        return candidates[0]
    scored = [(float(load_checkpoint(c)["dev_ua"]), str(c)) for c in candidates]
    scored = [(-1.0 if np.isnan(ua) else ua, c) for ua, c in scored]
    return Path(max(scored)[1])


class Predictor:
    """Feature extraction + normalisation + model, from one bundle."""

    def __init__(self, bundle: dict[str, Any], device: torch.device):
        from sertool.features.extractors import get_extractor

        self.bundle = bundle
        self.device = device
        self.cfg, self.model = load_bundle_model(bundle, device)
        spec = bundle["features"]
        self.extractor = get_extractor(spec["name"], spec.get("conf"))
        self.mean = bundle["normaliser"]["mean"].numpy()
        self.std = bundle["normaliser"]["std"].numpy()
        self.max_frames = max_frames(self.cfg, self.extractor.frame_shift)

    @classmethod
    def load(cls, path: str | Path, fold: str | None = None, device: str = "auto") -> "Predictor":
        dev = resolve_device(device)
        return cls(load_checkpoint(find_bundle(path, fold), dev), dev)

    @torch.no_grad()
    def predict_wave(self, wave: np.ndarray, sample_rate: int) -> dict[str, Any]:
        """Answers of every classification head for one mono waveform at ``extractor.sample_rate``."""
        feats = self.extractor(wave, sample_rate)
        if feats.shape[0] == 0:
            raise SertoolError("clip too short to extract a single feature frame")
        if self.max_frames is not None:
            feats = feats[: self.max_frames]
        x = torch.from_numpy(((feats - self.mean) / self.std).astype(np.float32))[None].to(self.device)
        preds = self.model(x, torch.tensor([x.shape[1]], device=self.device))
        out: dict[str, Any] = {}
        for name, info in self.bundle["tasks"].items():
            if "labels" not in info or preds[name].ndim != 2:
                continue
            probs = torch.softmax(preds[name][0].float(), -1).cpu().numpy().astype(float)
            probs = probs / probs.sum()  # exact normalisation after the float conversion
            best = info["labels"][int(probs.argmax())]
            if name == self.cfg.train.main_task:
                out["emotion"] = best
                out["probabilities"] = {lab: float(p) for lab, p in zip(info["labels"], probs)}
            else:
                out[name] = best
                out[f"{name}_probabilities"] = {lab: float(p) for lab, p in zip(info["labels"], probs)}
        return out

    def predict_file(self, path: str | Path) -> dict[str, Any]:
        """Read any audio file soundfile supports and predict; errors are one-line SertoolErrors."""
        wave, sr = read_audio(path, sample_rate=self.extractor.sample_rate)
        return {"file": str(path), **self.predict_wave(wave, sr)}
