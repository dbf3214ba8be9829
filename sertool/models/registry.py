"""Encoder registry and the encoder contract: YAML names an encoder and its arguments.

An encoder is an :class:`Encoder` whose ``forward(x, lengths)`` takes a padded batch with
absolute lengths ``(N,)`` and returns a dict of named outputs: ``pooled`` ``(N, E)`` (utterance
embedding), ``frames`` ``(N, T', C)`` and ``frame_lengths`` ``(N,)`` (frame-level states), plus
anything else it wants to expose. ``x`` is ``(N, T, D)`` feature matrices for encoders whose
``input_kind`` is ``"features"`` and ``(N, S)`` samples at ``sample_rate`` for ``"waveform"``
encoders (the trainer then reads audio instead of feature shards). ``output_dims`` sizes the
task heads; ``frame_stride`` (input frames per output frame) lets heads map back to the input rate.

Example:
    >>> @register_encoder("my_encoder")
    ... class MyEncoder(Encoder): ...
    >>> enc = build_encoder("sa_cnn_blstm", {"input_dim": 384})
    >>> enc.output_dims, enc.frame_stride
    ({'pooled': 960, 'frames': 120}, 3)
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from torch import nn

from sertool.registry import Registry

INPUT_KINDS = ("features", "waveform")


class Encoder(nn.Module):
    """Base class of encoders (see the module docstring for the contract)."""

    input_kind: ClassVar[str] = "features"
    sample_rate: int = 16000  # of the samples a waveform encoder expects
    input_dim: int = 1
    frame_stride: int = 1
    output_dims: dict[str, int]

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the last layer every task shares (GradNorm measures gradients there)."""
        raise NotImplementedError


#: Encoders by name (``model.encoder: NAME`` in YAML).
ENCODERS: Registry[type[Encoder]] = Registry("encoder")


def register_encoder(name: str):
    """Class decorator adding an encoder to :data:`ENCODERS` under ``name``."""

    def decorate(cls):
        if getattr(cls, "input_kind", None) not in INPUT_KINDS:
            raise ValueError(f"encoder {name!r}: input_kind must be one of {INPUT_KINDS}")
        ENCODERS.add(name, cls)
        return cls

    return decorate


def encoder_class(name: str) -> type[Encoder]:
    """The registered class of encoder ``name`` (its inputs are known before building)."""
    return ENCODERS.get(name)


def build_encoder(name: str, conf: dict[str, Any] | None = None) -> Encoder:
    """Instantiate encoder ``name`` with keyword arguments ``conf``."""
    return ENCODERS.build(name, conf)
