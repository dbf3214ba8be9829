"""A two-input toy encoder that lives in its own module: log-mel frames and a one-hot pitch contour.

A configuration names it as ``encoder: path/to/toy_mel_pitch.py:MelPitch`` (no registration in
sertool needed); its YAML says where ``logmel`` and ``pitch`` come from.
"""

from __future__ import annotations

import torch
from torch import nn

from sertool.layers.masking import lengths_to_mask
from sertool.models import Encoder


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    mask = lengths_to_mask(lengths.clamp(min=1), x.shape[1])[..., None].float()  # (N, T, 1)
    return (x * mask).sum(1) / mask.sum(1)


class MelPitch(Encoder):
    """Each stream projected and mean-pooled over its own valid frames; the two vectors concatenated."""

    inputs = {"logmel": "features", "pitch": "features"}

    def __init__(self, mel_dim: int = 384, pitch_dim: int = 257, hidden: int = 16):
        super().__init__()
        self.mel_dim, self.pitch_dim = mel_dim, pitch_dim
        self.mel = nn.Linear(mel_dim, hidden)
        self.pitch = nn.Linear(pitch_dim, hidden)
        self.output_dims = {"pooled": 2 * hidden}

    @property
    def input_dims(self) -> dict[str, int]:
        return {"logmel": self.mel_dim, "pitch": self.pitch_dim}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.mel.parameters())

    def forward(self, logmel: torch.Tensor, logmel_lengths: torch.Tensor, pitch: torch.Tensor,
                pitch_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        a = masked_mean(torch.tanh(self.mel(logmel)), logmel_lengths)  # (N, H)
        b = masked_mean(torch.tanh(self.pitch(pitch)), pitch_lengths)  # (N, H)
        return {"pooled": torch.cat([a, b], dim=1)}


class AlignedFbankPitch(MelPitch):
    """The same streams read as frame-aligned inputs (fbank and pitch frame counts differ: refused)."""

    inputs = {"logmel": "features", "pitch": "features"}
    aligned_inputs = ("logmel", "pitch")
