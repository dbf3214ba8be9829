"""The multi-task model: one shared encoder, one head per task.

``forward`` takes the batch of named inputs (each input and its ``<name>_lengths``, as
:class:`~sertool.train.data.Collator` makes them), runs the encoder on the inputs it declares, and
passes the encoder's named outputs to every head together with the inputs themselves, for heads
that reconstruct one. For a one-input encoder the input is also passed as ``input`` /
``input_lengths``. Heads are sized from ``encoder.output_dims``, ``encoder.input_dims``, and
``frame_stride`` (``<input>_stride``: input frames per output frame).

Example:
    >>> model = MultiTaskModel.build("sa_cnn_blstm", {"input_dim": 40, "cnn_channels": 8, "lstm_units": 8,
    ...                              "attn_dim": 16, "attn_heads": 2},
    ...                              {"emotion": {"type": "emotion"}, "gender": {"type": "gender"}})
    >>> preds = model(feats=torch.randn(3, 50, 40), feats_lengths=torch.tensor([50, 42, 9]))
    >>> preds["emotion"].shape, preds["gender"].shape
    (torch.Size([3, 4]), torch.Size([3, 2]))
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sertool.errors import SertoolError
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
    def build(cls, encoder: str, encoder_conf: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> MultiTaskModel:
        """Build from configuration: ``tasks`` maps a task name to ``{"type": kind, **conf}``."""
        enc = build_encoder(encoder, encoder_conf)
        in_dims = {**enc.output_dims, **enc.input_dims, "frame_stride": enc.frame_stride,
                   **{f"{name}_stride": enc.frame_stride for name in enc.inputs}}
        if len(enc.inputs) == 1:
            in_dims.update(input=next(iter(enc.input_dims.values())), input_stride=enc.frame_stride)
        built = {}
        for name, conf in tasks.items():
            task_conf = {k: v for k, v in conf.items() if k not in TRAINER_KEYS}
            built[name] = build_task(name, conf.get("type", name), in_dims, task_conf)
        return cls(enc, built)

    def forward(self, **inputs: torch.Tensor) -> dict[str, Prediction]:
        wanted = [k for name in self.encoder.inputs for k in (name, f"{name}_lengths")]
        missing = [k for k in wanted if k not in inputs]
        if missing:
            raise SertoolError(f"the model reads {', '.join(wanted)}; the batch lacks {', '.join(missing)}")
        enc_in = {k: inputs[k] for k in wanted}
        enc_out = {**enc_in, **self.encoder(**enc_in)}
        if len(self.encoder.inputs) == 1:
            name = next(iter(self.encoder.inputs))
            enc_out.update(input=inputs[name], input_lengths=inputs[f"{name}_lengths"])
        return {name: task(enc_out) for name, task in self.tasks.items()}
