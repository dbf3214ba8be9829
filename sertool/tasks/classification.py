"""Utterance-level classification tasks: emotion category and gender.

Both put a linear head on the encoder's ``pooled`` output and train with cross-entropy over
the items that carry a label (``IGNORE_INDEX`` elsewhere).

Example:
    >>> task = EmotionTask("emotion", {"pooled": 960}, label_set="iemocap4")
    >>> task.encode(utt_with_emotion_excited)
    1
    >>> task(enc_out).shape
    torch.Size([N, 4])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sertool.data.labels import GENDER_LABELS, get_label_set
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.tasks.base import Task, register_task

IGNORE_INDEX = -100


class ClassificationTask(Task):
    """A linear (or MLP) head over one encoder output, trained with cross-entropy."""

    def __init__(self, name: str, in_dims: dict[str, int], labels: tuple[str, ...], input: str = "pooled",
                 hidden: list[int] | None = None, dropout: float = 0.0):
        super().__init__(name)
        if input not in in_dims:
            raise SertoolError(f"task {name!r}: encoder has no output {input!r} (has {', '.join(in_dims)})")
        self.labels = tuple(labels)
        self.input = input
        layers: list[nn.Module] = []
        dim = in_dims[input]
        for h in hidden or []:
            layers += [nn.Linear(dim, h), nn.ReLU(), nn.Dropout(dropout)]
            dim = h
        layers.append(nn.Linear(dim, len(self.labels)))
        self.head = nn.Sequential(*layers)

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        return {"target": torch.tensor([IGNORE_INDEX if y is None else y for y in labels], dtype=torch.long)}

    def forward(self, enc_out: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(enc_out[self.input])  # (N, classes)

    def loss(self, pred: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        target = labels["target"]
        if not (target != IGNORE_INDEX).any():
            return None
        return F.cross_entropy(pred.float(), target, ignore_index=IGNORE_INDEX)

    def describe(self) -> dict[str, Any]:
        return {"labels": list(self.labels)}


@register_task
class EmotionTask(ClassificationTask):
    """Emotion category over a named label set (``emo4``, ``iemocap4``, ``seqm9``, …)."""

    kind = "emotion"

    def __init__(self, name: str, in_dims: dict[str, int], label_set: str = "emo4", **kw: Any):
        self.label_set = get_label_set(label_set)
        super().__init__(name, in_dims, self.label_set.labels, **kw)

    def encode(self, utt: Utterance) -> int | None:
        return self.label_set.index_of(getattr(utt, self.label_set.field))


@register_task
class GenderTask(ClassificationTask):
    """Speaker gender (F/M) from the manifest's ``gender`` field."""

    kind = "gender"

    def __init__(self, name: str, in_dims: dict[str, int], **kw: Any):
        super().__init__(name, in_dims, GENDER_LABELS, **kw)

    def encode(self, utt: Utterance) -> int | None:
        return GENDER_LABELS.index(utt.gender) if utt.gender in GENDER_LABELS else None
