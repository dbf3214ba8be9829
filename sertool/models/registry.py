"""Encoder registry and the encoder contract: YAML names an encoder and its arguments.

An encoder is an :class:`Encoder` that declares the inputs it reads by name in ``inputs``
(name → ``"features"``, a padded ``(N, T, D)`` matrix batch, or ``"audio"``, ``(N, S)`` mono
samples at ``sample_rate``), and whose ``forward`` takes them as keyword arguments together with
their absolute lengths ``<name>_lengths`` ``(N,)`` — the batch of named tensors, as in ESPnet's
``forward(**batch)``. It returns a dict of named outputs: ``pooled`` ``(N, E)`` (utterance
embedding), ``frames`` ``(N, T', C)`` and ``frame_lengths`` ``(N,)`` (frame-level states), plus
anything else it wants to expose. The training configuration says where each input comes from
(``data.inputs``); ``input_dims`` gives each input's size (checked against the data before
training), ``aligned_inputs`` the inputs whose frames must correspond one to one (checked per
utterance), ``output_dims`` sizes the task heads and ``frame_stride`` (input frames per output
frame) lets heads map back to the input rate.

Example:
    >>> enc = build_encoder("sa_cnn_blstm", {"input_dim": 384})
    >>> enc.inputs, enc.input_dims, enc.output_dims, enc.frame_stride
    ({'feats': 'features'}, {'feats': 384}, {'pooled': 960, 'frames': 120}, 3)
    >>> out = enc(feats=torch.randn(2, 30, 384), feats_lengths=torch.tensor([30, 21]))
    >>> out["pooled"].shape, out["frame_lengths"].tolist()
    (torch.Size([2, 960]), [10, 7])

A new encoder is a class in its own module, registered by name (or named in YAML as
``module:Class``, see :mod:`sertool.registry`)::

    @register_encoder("mel_pitch")
    class MelPitch(Encoder):
        inputs = {"logmel": "features", "pitch": "features"}
        aligned_inputs = ("logmel", "pitch")
        def forward(self, logmel, logmel_lengths, pitch, pitch_lengths): ...
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch  # noqa: F401  (used by the doctest)
from torch import nn

from sertool.registry import Registry

INPUT_KINDS = ("features", "audio")


class Encoder(nn.Module):
    """Base class of encoders (see the module docstring for the contract)."""

    inputs: ClassVar[dict[str, str]] = {"feats": "features"}
    aligned_inputs: ClassVar[tuple[str, ...]] = ()
    sample_rate: int = 16000  # of the samples an audio input expects
    input_dim: int = 1  # of a one-input encoder's features
    frame_stride: int = 1
    output_dims: dict[str, int]

    @property
    def input_dims(self) -> dict[str, int]:
        """The size of each input: ``input_dim`` for a one-input encoder, 1 for audio."""
        if len(self.inputs) != 1:
            raise NotImplementedError(f"{type(self).__name__} reads several inputs and must define input_dims")
        ((name, kind),) = self.inputs.items()
        return {name: 1 if kind == "audio" else self.input_dim}

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the last layer every task shares (GradNorm measures gradients there)."""
        raise NotImplementedError

    def portable_conf(self, conf: dict[str, Any]) -> dict[str, Any]:
        """The configuration that rebuilds this encoder's structure from the model bundle alone.

        The bundle holds every weight; an encoder built from files (pretrained weights, a model
        directory) returns a configuration that needs none of them.
        """
        return dict(conf)


#: Encoders by name (``model.encoder: NAME`` in YAML).
ENCODERS: Registry[type[Encoder]] = Registry("encoder")


def register_encoder(name: str):
    """Class decorator adding an encoder to :data:`ENCODERS` under ``name``."""

    def decorate(cls):
        kinds = getattr(cls, "inputs", None)
        if not kinds or any(k not in INPUT_KINDS for k in kinds.values()):
            raise ValueError(f"encoder {name!r}: inputs must map names to one of {INPUT_KINDS}")
        if set(cls.aligned_inputs) - set(kinds):
            raise ValueError(f"encoder {name!r}: aligned_inputs must name its inputs")
        ENCODERS.add(name, cls)
        return cls

    return decorate


def encoder_class(name: str) -> type[Encoder]:
    """The registered class of encoder ``name`` (its inputs are known before building)."""
    return ENCODERS.get(name)


def build_encoder(name: str, conf: dict[str, Any] | None = None) -> Encoder:
    """Instantiate encoder ``name`` with keyword arguments ``conf``."""
    return ENCODERS.build(name, conf)
