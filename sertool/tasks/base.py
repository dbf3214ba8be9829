"""The task contract and registry.

A task declares the label it needs (:meth:`Task.encode` reads it from a manifest
:class:`~sertool.data.manifest.Utterance`, returning None when the utterance carries none),
turns a batch's labels into tensors (:meth:`Task.collate`, using an ignore value for missing
ones), owns its head (:meth:`Task.forward` reads the encoder's named outputs), its loss
(:meth:`Task.loss` returns None when no item of the batch carries its label, so a batch only
trains the tasks whose labels it has) and its metrics (:meth:`Task.decode` turns predictions
into per-item hypotheses, :meth:`Task.references` gives the labels back, :meth:`Task.metrics`
scores them). :meth:`Task.answer` is what ``sertool infer`` prints for the task.

A prediction is a tensor, or a dict of tensors where a head needs to pass lengths along.

Example::

    task = build_task("gender", "gender", in_dims={"pooled": 960}, conf={})
    labels = task.collate([task.encode(u) for u in utts])
    pred = task(encoder_outputs)                                  # (N, 2)
    loss = task.loss(pred, labels)
    task.metrics(task.references(labels), task.decode(pred))     # {"acc": 0.75}
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.registry import Registry

Prediction = torch.Tensor | dict[str, torch.Tensor]



def utterance_field(utt: Utterance, field: str) -> Any:
    """A manifest field by name; ``extra.<key>`` reads the corpus-specific extras (e.g. ``extra.channel``)."""
    if field.startswith("extra."):
        return utt.extra.get(field.removeprefix("extra."))
    return getattr(utt, field)


class Task(nn.Module):
    """Base class: subclasses set ``kind`` and implement the methods below."""

    kind: ClassVar[str]

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    @classmethod
    def complete_conf(cls, conf: dict[str, Any], utts: list[Utterance]) -> dict[str, Any]:
        """Fill settings that come from the training data (e.g. the speaker list) into ``conf``."""
        return conf

    def encode(self, utt: Utterance) -> Any | None:
        """This task's label for ``utt``, or None if it has none."""
        raise NotImplementedError

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        """Batch tensors of labels (missing ones as the task's ignore value)."""
        raise NotImplementedError

    def forward(self, enc_out: dict[str, torch.Tensor]) -> Prediction:
        """Predictions (logits, scores) from the encoder's named outputs."""
        raise NotImplementedError

    def loss(self, pred: Prediction, labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Mean loss over the items that carry a label; None when none does."""
        raise NotImplementedError

    def references(self, labels: dict[str, torch.Tensor]) -> list[Any | None]:
        """Per-item reference of a collated batch (None where the item has no label)."""
        raise NotImplementedError

    def decode(self, pred: Prediction) -> list[Any]:
        """Per-item hypothesis (class id, value, token ids) comparable with :meth:`references`."""
        raise NotImplementedError

    def metrics(self, refs: list[Any], hyps: list[Any]) -> dict[str, float]:
        """Scores of hypotheses against references (items that have a reference only)."""
        raise NotImplementedError

    def answer(self, pred: Prediction) -> list[dict[str, Any]]:
        """What inference prints for each item (nothing for training-only tasks)."""
        return [{} for _ in self.decode(pred)]

    def describe(self) -> dict[str, Any]:
        """What inference needs to turn predictions into answers (e.g. class names)."""
        return {}


#: Task types by ``kind`` (``tasks.<name>.type`` in YAML).
TASKS: Registry[type[Task]] = Registry("task type")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator adding a task type to :data:`TASKS` under ``cls.kind``."""
    TASKS.add(cls.kind, cls)
    return cls


def task_class(kind: str, name: str = "") -> type[Task]:
    """The registered class of task type ``kind`` (``name``: the task it is for, named in errors)."""
    try:
        return TASKS.get(kind)
    except SertoolError as e:
        raise SertoolError(f"task {name!r}: {e}") from None


def build_task(name: str, kind: str, in_dims: dict[str, int], conf: dict[str, Any]) -> Task:
    """Instantiate task type ``kind`` called ``name`` on an encoder with output sizes ``in_dims``."""
    task_class(kind, name)
    return TASKS.build(kind, conf, name, in_dims)


def require_input(name: str, in_dims: dict[str, int], key: str) -> int:
    """The size of encoder output ``key``, or a one-line error naming what the encoder has."""
    if key not in in_dims:
        raise SertoolError(f"task {name!r}: encoder has no output {key!r} (has {', '.join(in_dims)})")
    return in_dims[key]


def sequence_lengths(enc_out: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """Lengths ``(N,)`` of a sequence output: ``frame_lengths`` for ``frames``, ``<key>_lengths`` otherwise."""
    return enc_out["frame_lengths" if key == "frames" else f"{key}_lengths"]


def mlp_head(in_dim: int, out_dim: int, hidden: list[int] | None, dropout: float) -> nn.Sequential:
    """Linear layer, or ReLU hidden layers (with dropout) then a linear layer."""
    layers: list[nn.Module] = []
    for h in hidden or []:
        layers += [nn.Linear(in_dim, h), nn.ReLU(), nn.Dropout(dropout)]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)
