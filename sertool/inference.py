"""Running a trained model on new audio (``sertool infer``).

A model bundle (``EXP/fold-*/checkpoints/best.pt``) is self-contained: it rebuilds the feature
extractor, the normalisation and the model (waveform models read the audio itself). Any sample
rate or channel count soundfile reads is accepted: audio is down-mixed and resampled to the
extractor's (or the waveform model's) rate.

Example:
    >>> predictor = Predictor.load("exp/sa_cnn_blstm")          # the fold with the best dev UA
    >>> predictor.predict_file("clip.wav")
    {'file': 'clip.wav', 'emotion': 'angry', 'probabilities': {'neutral': 0.02, ...}, 'intensity': 2.7,
     'gender': 'F', ...}
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
from sertool.train.distributed import resolve_device
from sertool.train.data import Normaliser, fit_length
from sertool.train.trainer import max_frames


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
    """Input preparation (features + normalisation, or audio for waveform models) + model, from one bundle."""

    def __init__(self, bundle: dict[str, Any], device: torch.device):
        self.bundle = bundle
        self.device = device
        self.cfg, self.model = load_bundle_model(bundle, device)
        self.main = self.cfg.train.main_task
        if bundle.get("input_kind", "features") == "waveform":
            self.extractor = None
            self.sample_rate = self.model.encoder.sample_rate
            seconds = self.cfg.data.max_seconds
            self.max_len = None if seconds is None else int(round(seconds * self.sample_rate))
        else:
            from sertool.features.extractors import get_extractor

            spec = bundle["features"]
            self.extractor = get_extractor(spec["name"], spec.get("conf"))
            self.sample_rate = self.extractor.sample_rate
            self.normaliser = Normaliser(bundle["normaliser"]["mean"].numpy(), bundle["normaliser"]["std"].numpy())
            self.max_len = max_frames(self.cfg, self.extractor.frame_shift)

    @classmethod
    def load(cls, path: str | Path, fold: str | None = None, device: str = "auto") -> "Predictor":
        dev = resolve_device(device)
        return cls(load_checkpoint(find_bundle(path, fold), dev), dev)

    def _input(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        """The model input of one mono waveform at ``self.sample_rate``: ``(T, D)`` features or ``(S,)`` samples."""
        if self.extractor is None:
            x = wave.astype(np.float32)
        else:
            feats = self.extractor(wave, sample_rate)
            if feats.shape[0] == 0:
                raise SertoolError("clip too short to extract a single feature frame")
            x = self.normaliser(fit_length(feats, self.max_len)).astype(np.float32)
        return fit_length(x, self.max_len, self.cfg.data.pad_to_max)

    @torch.no_grad()
    def predict_wave(self, wave: np.ndarray, sample_rate: int) -> dict[str, Any]:
        """Answers of every head that has one: the main task as ``emotion`` and ``probabilities``,
        an intensity head as ``intensity``, other classifiers (``gender``, …) by task name."""
        x = torch.from_numpy(self._input(wave, sample_rate))[None].to(self.device)
        preds = self.model(x, torch.tensor([x.shape[1]], device=self.device))
        out: dict[str, Any] = {}
        for name, task in self.model.tasks.items():
            answer = task.answer(preds[name])[0]
            if name == self.main:
                out["emotion"] = answer[name]
                out["probabilities"] = answer[f"{name}_probabilities"]
            elif task.kind == "intensity" and "intensity" not in out:
                out["intensity"] = answer[name]
            else:
                out.update(answer)
        return out

    def predict_file(self, path: str | Path) -> dict[str, Any]:
        """Read any audio file soundfile supports and predict; errors are one-line SertoolErrors."""
        wave, sr = read_audio(path, sample_rate=self.sample_rate)
        return {"file": str(path), **self.predict_wave(wave, sr)}
