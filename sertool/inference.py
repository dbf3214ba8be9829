"""Running a trained model on new audio (``sertool infer``).

A model bundle (:mod:`sertool.train.bundle`) is self-contained: every named input is computed
from the audio as the features stage computed it for training, normalised with the statistics
training fitted (a known ``speaker`` uses its own where the model was trained with
``cmvn: speaker``), and passed to the model. Any sample rate or channel count soundfile reads is
accepted: audio is down-mixed and resampled to each input's rate.

Example::

    predictor = Predictor.load("exp/sa_cnn_blstm")          # the fold with the best dev UA
    predictor.predict_file("clip.wav")
    # {'file': 'clip.wav', 'emotion': 'angry', 'probabilities': {'neutral': 0.02, ...}, 'intensity': 2.7,
    #  'gender': 'F', ...}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from sertool.audio import read_audio, resample
from sertool.train.bundle import Bundle, find_bundle
from sertool.train.distributed import resolve_device

__all__ = ["Predictor", "find_bundle"]


class Predictor:
    """A bundle's model and the preparation of its inputs from audio."""

    def __init__(self, bundle: Bundle, device: torch.device):
        self.bundle, self.device = bundle, device
        self.model, self.cfg, self.main = bundle.model, bundle.cfg, bundle.main_task
        self.rates = {name: spec.audio_rate for name, spec in bundle.specs.items()}

    @classmethod
    def load(cls, path: str | Path, fold: str | None = None, device: str = "auto") -> Predictor:
        dev = resolve_device(device)
        return cls(Bundle.load(find_bundle(path, fold), dev), dev)

    def inputs(self, waves: dict[int, np.ndarray], speaker: str | None = None) -> dict[str, torch.Tensor]:
        """The batch (of one) of named inputs from the clip resampled to each rate the model needs."""
        out: dict[str, torch.Tensor] = {}
        for name, spec in self.bundle.specs.items():
            rate = self.rates[name]
            x = torch.from_numpy(spec.from_audio(waves[rate], rate, speaker))
            out[name] = x[None].to(self.device)
            out[f"{name}_lengths"] = torch.tensor([x.shape[0]], device=self.device)
        return out

    @torch.no_grad()
    def predict_inputs(self, inputs: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Answers of every head that has one: the main task as ``emotion`` and ``probabilities``,
        an intensity head as ``intensity``, other classifiers (``gender``, …) by task name."""
        preds = self.model(**inputs)
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

    def predict_wave(self, wave: np.ndarray, sample_rate: int, speaker: str | None = None) -> dict[str, Any]:
        """Predict from a mono waveform at ``sample_rate``."""
        waves = {r: resample(wave, sample_rate, r) for r in set(self.rates.values())}
        return self.predict_inputs(self.inputs(waves, speaker))

    def predict_file(self, path: str | Path, speaker: str | None = None) -> dict[str, Any]:
        """Read any audio file soundfile supports and predict; errors are one-line SertoolErrors."""
        waves = {r: read_audio(path, sample_rate=r)[0] for r in set(self.rates.values())}
        return {"file": str(path), **self.predict_inputs(self.inputs(waves, speaker))}
