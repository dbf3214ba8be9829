"""The multi-task model: one shared encoder, one head per task.

``forward`` passes the encoder's named outputs to every head, together with the model input
itself (``input``, ``input_lengths``) for heads that reconstruct it. Heads are sized from
``encoder.output_dims`` plus ``input`` (the input's dimension) and ``frame_stride``.

Example:
    >>> model = MultiTaskModel.build("sa_cnn_blstm", {"input_dim": 384},
    ...                              {"emotion": {"type": "emotion"}, "gender": {"type": "gender"}})
    >>> preds = model(feats, lengths)          # {"emotion": (N, 4), "gender": (N, 2)}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sertool.models import Encoder, build_encoder
from sertool.tasks import Task, build_task
from sertool.tasks.base import Prediction

# Keys of a task's configuration that belong to the trainer, not to the task's constructor.
TRAINER_KEYS = ("type", "weight")


class MultiTaskModel(nn.Module):
    """Shared encoder + task heads; ``forward`` returns each task's predictions by task name."""

    def __init__(self, encoder: Encoder, tasks: dict[str, Task]):
        super().__init__()
        self.encoder = encoder
        self.tasks = nn.ModuleDict(tasks)

    @classmethod
    def build(cls, encoder: str, encoder_conf: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> "MultiTaskModel":
        """Build from configuration: ``tasks`` maps a task name to ``{"type": kind, **conf}``."""
        enc = build_encoder(encoder, encoder_conf)
        in_dims = {**enc.output_dims, "input": enc.input_dim, "frame_stride": enc.frame_stride}
        built = {}
        for name, conf in tasks.items():
            task_conf = {k: v for k, v in conf.items() if k not in TRAINER_KEYS}
            built[name] = build_task(name, conf.get("type", name), in_dims, task_conf)
        return cls(enc, built)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> dict[str, Prediction]:
        enc_out = {**self.encoder(x, lengths), "input": x, "input_lengths": lengths}
        return {name: task(enc_out) for name, task in self.tasks.items()}
