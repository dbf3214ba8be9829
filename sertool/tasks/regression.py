"""Emotion intensity regression (SpeechEQ's EIS, speecheq.txt §2.1, eq. 3, Algorithm 1).

A linear (or MLP) head on the ``pooled`` output predicts one score per utterance, trained with
``1 − CCC`` against the manifest's ``eis``. "No label" and "ignore this label" differ: an emotion
utterance whose ``eis`` is −1 (intensity unspecified) goes through the label-ignore mechanism of
:func:`~sertool.tasks.losses.ccc_loss` (Algorithm 1: it enters the batch statistics with its own
clipped prediction as label); an utterance without an emotion label (an ASR or gender-only
corpus, or a corpus that does not train this task) has no intensity label at all and never enters
the CCC's batch statistics. Hypotheses and inference answers are clipped into ``[0, 4]``; scored
with CCC and MSE (§3.1).

Example::

    task = IntensityTask("intensity", {"pooled": 192})
    task.encode(utt_with_eis_2_5), task.encode(utt_without_eis)
    # (2.5, None)
    task(enc_out).shape
    # torch.Size([N])
"""

from __future__ import annotations

from typing import Any

import torch

from sertool.data.manifest import Utterance
from sertool.evaluation.metrics import concordance_cc, mean_squared_error
from sertool.tasks.base import Task, mlp_head, register_task, require_input, utterance_field
from sertool.tasks.losses import IGNORE_EIS, ccc_loss


@register_task
class IntensityTask(Task):
    """One score per utterance in ``[low, high]``, from the manifest field ``field`` (default ``eis``)."""

    kind = "intensity"

    def __init__(self, name: str, in_dims: dict[str, int], field: str = "eis", input: str = "pooled",
                 hidden: list[int] | None = None, dropout: float = 0.0, low: float = 0.0, high: float = 4.0):
        super().__init__(name)
        self.field, self.input, self.low, self.high = field, input, float(low), float(high)
        self.head = mlp_head(require_input(name, in_dims, input), 1, hidden, dropout)

    def encode(self, utt: Utterance) -> float | None:
        """The intensity; :data:`IGNORE_EIS` for an emotion utterance without one; None without emotion."""
        value = utterance_field(utt, self.field)
        if value is not None and value >= 0:
            return float(value)
        return IGNORE_EIS if utt.emotion is not None else None

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        return {"target": torch.tensor([IGNORE_EIS if y is None else y for y in labels], dtype=torch.float32),
                "present": torch.tensor([y is not None for y in labels], dtype=torch.bool)}

    def forward(self, enc_out: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(enc_out[self.input])[:, 0]  # (N,)

    def loss(self, pred: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        present = labels["present"]  # items without any intensity label stay out of the batch moments
        return ccc_loss(pred[present], labels["target"][present], self.low, self.high)

    def references(self, labels: dict[str, torch.Tensor]) -> list[float | None]:
        return [None if y < 0 else y for y in labels["target"].tolist()]

    def decode(self, pred: torch.Tensor) -> list[float]:
        return pred.float().clamp(self.low, self.high).tolist()

    def metrics(self, refs: list[float], hyps: list[float]) -> dict[str, float]:
        return {"ccc": concordance_cc(hyps, refs), "mse": mean_squared_error(hyps, refs)}

    def answer(self, pred: torch.Tensor) -> list[dict[str, Any]]:
        return [{self.name: round(v, 4)} for v in self.decode(pred)]

    def describe(self) -> dict[str, Any]:
        return {"range": [self.low, self.high]}
