"""Loss weighting: combine per-task losses into the total that is back-propagated.

A weighting method is a pure module: ``forward(losses)`` returns ``(total, weights)`` and never
calls ``backward()`` itself. Tasks absent from ``losses`` (no labels in the batch) are skipped.

Example:
    >>> w = build_weighting("fixed", {"emotion": 1.0, "gender": 1.0}, {})
    >>> total, weights = w({"emotion": torch.tensor(1.2), "gender": torch.tensor(0.4)})
    >>> float(total), weights
    (1.6, {'emotion': 1.0, 'gender': 1.0})
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from sertool.errors import SertoolError

_METHODS: dict[str, Callable[..., nn.Module]] = {}


def register_weighting(name: str):
    def decorate(cls):
        _METHODS[name] = cls
        return cls

    return decorate


@register_weighting("fixed")
class FixedWeighting(nn.Module):
    """``L = Σ_k w_k · L_k`` with constant weights (sa_cnn_blstm.txt eq. 10: α = β = 1)."""

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        self.weights = dict(weights)

    def forward(self, losses: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        total = sum(self.weights[k] * v for k, v in losses.items())
        return total, {k: self.weights[k] for k in losses}


def build_weighting(name: str, weights: dict[str, float], conf: dict[str, Any]) -> nn.Module:
    """Weighting method ``name`` over tasks with initial ``weights``."""
    if name not in _METHODS:
        raise SertoolError(f"unknown loss weighting {name!r} (known: {', '.join(sorted(_METHODS))})")
    try:
        return _METHODS[name](weights=weights, **conf)
    except TypeError as e:
        raise SertoolError(f"bad arguments for loss weighting {name!r}: {e}") from None
