"""The task contract and registry.

A task declares the label it needs (:meth:`Task.encode` reads it from a manifest
:class:`~sertool.data.manifest.Utterance`, returning None when the utterance carries none),
turns a batch's labels into tensors (:meth:`Task.collate`, using an ignore value for missing
ones), owns its head (:meth:`Task.forward` reads the encoder's named outputs) and its loss
(:meth:`Task.loss` returns None when no item of the batch carries its label, so a batch only
trains the tasks whose labels it has).

Example:
    >>> task = build_task("gender", "gender", in_dims={"pooled": 960}, conf={})
    >>> labels = task.collate([task.encode(u) for u in utts])
    >>> loss = task.loss(task(encoder_outputs), labels)
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

_TASKS: dict[str, type["Task"]] = {}


class Task(nn.Module):
    """Base class: subclasses set ``kind`` and implement the four methods."""

    kind: ClassVar[str]

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def encode(self, utt: Utterance) -> Any | None:
        """This task's label for ``utt``, or None if it has none."""
        raise NotImplementedError

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        """Batch tensors of labels (missing ones as the task's ignore value)."""
        raise NotImplementedError

    def forward(self, enc_out: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predictions (logits, scores) from the encoder's named outputs."""
        raise NotImplementedError

    def loss(self, pred: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Mean loss over the items that carry a label; None when none does."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """What inference needs to turn predictions into answers (e.g. class names)."""
        return {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator adding a task type to the registry under ``cls.kind``."""
    if cls.kind in _TASKS:
        raise ValueError(f"task {cls.kind!r} registered twice")
    _TASKS[cls.kind] = cls
    return cls


def task_names() -> list[str]:
    return sorted(_TASKS)


def build_task(name: str, kind: str, in_dims: dict[str, int], conf: dict[str, Any]) -> Task:
    """Instantiate task type ``kind`` called ``name`` on an encoder with output sizes ``in_dims``."""
    if kind not in _TASKS:
        raise SertoolError(f"unknown task type {kind!r} for task {name!r} (known: {', '.join(task_names())})")
    try:
        return _TASKS[kind](name, in_dims, **conf)
    except TypeError as e:
        raise SertoolError(f"bad arguments for task {name!r} ({kind}): {e}") from None
