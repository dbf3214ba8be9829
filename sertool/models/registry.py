"""Encoder registry: YAML names an encoder and its arguments, the registry builds it.

An encoder is an ``nn.Module`` whose ``forward(feats, lengths)`` takes a padded batch
``(N, T, D)`` with absolute lengths ``(N,)`` and returns a dict of named outputs:
``pooled`` ``(N, E)`` (utterance embedding), ``frames`` ``(N, T', C)`` and ``frame_lengths``
``(N,)`` (frame-level states), plus anything else it wants to expose. It declares
``output_dims = {"pooled": E, "frames": C}`` so task heads can be sized.

Example:
    >>> @register_encoder("my_encoder")
    ... class MyEncoder(nn.Module): ...
    >>> enc = build_encoder("sa_cnn_blstm", {"input_dim": 384})
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from sertool.errors import SertoolError

_ENCODERS: dict[str, Callable[..., nn.Module]] = {}


def register_encoder(name: str):
    """Class decorator adding an encoder to the registry under ``name``."""

    def decorate(cls):
        if name in _ENCODERS:
            raise ValueError(f"encoder {name!r} registered twice")
        _ENCODERS[name] = cls
        return cls

    return decorate


def encoder_names() -> list[str]:
    return sorted(_ENCODERS)


def build_encoder(name: str, conf: dict[str, Any] | None = None) -> nn.Module:
    """Instantiate encoder ``name`` with keyword arguments ``conf``."""
    if name not in _ENCODERS:
        raise SertoolError(f"unknown encoder {name!r} (known: {', '.join(encoder_names())})")
    try:
        return _ENCODERS[name](**(conf or {}))
    except TypeError as e:
        raise SertoolError(f"bad arguments for encoder {name!r}: {e}") from None
