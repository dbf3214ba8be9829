"""Spectrogram reconstruction with the mean squared error (decomposed_speech_mtl.txt eq. 3).

A decoder (a BLSTM, as the paper's "bi-LSTM and a linear layer", then a linear layer) maps the
encoder's ``frames`` back to a target spectrogram: ``target`` names one of the model's inputs
(e.g. ``spectrogram``; ``input``, the default, is the input of a one-input model), which
:class:`~sertool.models.multitask.MultiTaskModel` passes to the heads with its lengths, or an
output the encoder exposes. When the encoder's frames are ``stride`` times slower than the target
(pooling), each frame predicts ``stride`` target frames (by default the encoder's stride for an
input, 1 for an encoder output). Every utterance carries this "label".

Example:
    >>> task = ReconstructionTask("recon", {"frames": 12, "spec": 80, "spec_stride": 3}, target="spec",
    ...                           lstm_units=4)
    >>> h, x = torch.randn(2, 10, 12), torch.randn(2, 31, 80)
    >>> pred = task({"frames": h, "frame_lengths": torch.tensor([10, 7]), "spec": x,
    ...              "spec_lengths": torch.tensor([31, 22])})
    >>> pred["pred"].shape, pred["target"].shape, pred["lengths"].tolist()   # 10 frames × 3 = 30
    (torch.Size([2, 30, 80]), torch.Size([2, 30, 80]), [30, 21])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sertool.data.manifest import Utterance
from sertool.layers.masking import lengths_to_mask, run_packed
from sertool.tasks.base import Task, register_task, require_input, sequence_lengths
from sertool.tasks.losses import masked_mse


@register_task
class ReconstructionTask(Task):
    """BLSTM (``lstm_units`` each way; None: none) + linear decoder from frames to the target, MSE loss."""

    kind = "reconstruction"

    def __init__(self, name: str, in_dims: dict[str, int], input: str = "frames", target: str = "input",
                 stride: int | None = None, lstm_units: int | None = 256):
        super().__init__(name)
        self.input, self.target = input, target
        dim = require_input(name, in_dims, input)
        self.target_dim = require_input(name, in_dims, target)
        self.stride = int(stride or in_dims.get(f"{target}_stride", 1))
        self.lstm = nn.LSTM(dim, lstm_units, batch_first=True, bidirectional=True) if lstm_units else None
        self.out = nn.Linear(2 * lstm_units if lstm_units else dim, self.stride * self.target_dim)

    def encode(self, utt: Utterance) -> bool:
        return True

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        return {"present": torch.tensor([y is not None for y in labels], dtype=torch.bool)}

    def forward(self, enc_out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        h, lengths = enc_out[self.input], sequence_lengths(enc_out, self.input)  # (N, T', C), (N,)
        if self.lstm is not None:
            h = run_packed(self.lstm, h, lengths)
        n, t, _ = h.shape
        pred = self.out(h).reshape(n, t * self.stride, self.target_dim)  # (N, T'·stride, D)
        target = enc_out[self.target].detach()  # (N, T, D): reconstructing must not move the target
        target_lengths = sequence_lengths(enc_out, self.target)
        frames = min(pred.shape[1], target.shape[1])
        lengths = torch.minimum(target_lengths, lengths * self.stride).clamp(max=frames)
        return {"pred": pred[:, :frames], "target": target[:, :frames], "lengths": lengths}

    def _mask(self, pred: dict[str, torch.Tensor], present: torch.Tensor | None = None) -> torch.Tensor:
        mask = lengths_to_mask(pred["lengths"], pred["pred"].shape[1])  # (N, T)
        return mask if present is None else mask & present[:, None]

    def loss(self, pred: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return masked_mse(pred["pred"], pred["target"], self._mask(pred, labels["present"]))

    def references(self, labels: dict[str, torch.Tensor]) -> list[bool | None]:
        return [True if p else None for p in labels["present"].tolist()]

    def decode(self, pred: dict[str, torch.Tensor]) -> list[float]:
        """Per-utterance MSE (the reconstruction's own quality is its "hypothesis")."""
        mask = self._mask(pred).float()
        sq = ((pred["pred"].float() - pred["target"].float()) ** 2).mean(-1) * mask  # (N, T)
        return (sq.sum(1) / mask.sum(1).clamp(min=1)).tolist()

    def metrics(self, refs: list[bool], hyps: list[float]) -> dict[str, float]:
        return {"mse": float(sum(hyps) / len(hyps)) if hyps else 0.0}
