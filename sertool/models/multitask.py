"""The multi-task model: one shared encoder, one head per task.

Example:
    >>> model = MultiTaskModel.build("sa_cnn_blstm", {"input_dim": 384},
    ...                              {"emotion": {"type": "emotion"}, "gender": {"type": "gender"}})
    >>> preds = model(feats, lengths)          # {"emotion": (N, 4), "gender": (N, 2)}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sertool.models import build_encoder
from sertool.tasks import Task, build_task


class MultiTaskModel(nn.Module):
    """Shared encoder + task heads; ``forward`` returns each task's predictions by task name."""

    def __init__(self, encoder: nn.Module, tasks: dict[str, Task]):
        super().__init__()
        self.encoder = encoder
        self.tasks = nn.ModuleDict(tasks)

    @classmethod
    def build(cls, encoder: str, encoder_conf: dict[str, Any], tasks: dict[str, dict[str, Any]]) -> "MultiTaskModel":
        """Build from configuration: ``tasks`` maps a task name to ``{"type": kind, **conf}``."""
        enc = build_encoder(encoder, encoder_conf)
        built = {}
        for name, conf in tasks.items():
            conf = {k: v for k, v in conf.items() if k not in ("type", "weight")}
            built[name] = build_task(name, tasks[name].get("type", name), enc.output_dims, conf)
        return cls(enc, built)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        enc_out = self.encoder(feats, lengths)
        return {name: task(enc_out) for name, task in self.tasks.items()}
