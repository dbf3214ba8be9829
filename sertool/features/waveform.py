"""The ``waveform`` extractor: raw samples for self-supervised encoders (wav2vec 2.0, HuBERT, WavLM).

Stored as ``(samples, 1)`` float32 at 16 kHz; one "frame" per sample, so ``frame_shift`` is
``1 / sample_rate`` and the frame count is the number of samples after resampling.

Example:
    >>> WaveformExtractor(WaveformConfig())(np.zeros(8000, np.float32), 8000).shape
    (16000, 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sertool.features.base import Extractor, register
from sertool.features.config import require


@dataclass
class WaveformConfig:
    """Target sample rate of the stored samples (SSL encoders are trained at 16 kHz)."""

    sample_rate: int = 16000

    def validate(self) -> None:
        require(self.sample_rate > 0, "waveform: sample_rate must be positive")


@register("waveform")
class WaveformExtractor(Extractor):
    """Samples as a one-column matrix."""

    Config = WaveformConfig

    @property
    def frame_shift(self) -> float:
        return 1.0 / self.config.sample_rate

    @property
    def dims(self) -> int:
        return 1

    def num_frames(self, num_samples: int) -> int:
        return num_samples

    def compute(self, wave: np.ndarray) -> np.ndarray:
        return wave.reshape(-1, 1)
