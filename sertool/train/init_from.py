"""``init_from``: initialise named parts of a model from another experiment's model bundle.

The configuration's ``init_from: {exp: DIR, map: {TARGET_PREFIX: SOURCE_PREFIX, ...}}`` loads, for
fold ``k``, fold ``k``'s ``best.pt`` of experiment ``DIR`` (or ``DIR`` itself when it is a bundle
file), and copies into every parameter and buffer of this model whose name starts with a target
prefix the source's tensor of the same name with that prefix replaced by the source prefix (the
longest matching prefix wins). The rest of the model keeps its own initialisation. A missing
source tensor, a shape mismatch or a prefix that names nothing is refused with one line naming the
tensor (and both shapes). The default map ``{"": ""}`` takes every tensor from the source.

decomposed_speech_mtl.txt §2.3 pre-trains the decomposition encoders on reconstruction and speaker
recognition, then fine-tunes them beside wav2vec 2.0::

    init_from:
      exp: exp/decomposed/pretrain
      map: {"encoder.decomposition.": "encoder.", "tasks.recon.": "tasks.recon.",
            "tasks.speaker.": "tasks.speaker."}

Example:
    >>> src = nn.ModuleDict({"encoder": nn.Linear(2, 3)})
    >>> dst = nn.ModuleDict({"encoder": nn.ModuleDict({"part": nn.Linear(2, 3)}), "head": nn.Linear(3, 1)})
    >>> load_mapped(dst, src.state_dict(), {"encoder.part.": "encoder."}, "pretrain")
    ['encoder.part.weight', 'encoder.part.bias']
    >>> torch.equal(dst["encoder"]["part"].weight, src["encoder"].weight)
    True
    >>> load_mapped(dst, {"encoder.weight": torch.zeros(4, 2)}, {"encoder.part.": "encoder."}, "pretrain")
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: init_from: encoder.part.weight has shape (3, 2) here but ... has (4, 2)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sertool.errors import SertoolError
from sertool.train.checkpoint import load_checkpoint


def source_bundle(exp: str | Path, fold: str) -> Path:
    """The bundle fold ``fold`` starts from: ``exp`` itself if a file, else its ``fold-<fold>/checkpoints/best.pt``."""
    path = Path(exp)
    if path.is_file():
        return path
    bundle = path / f"fold-{fold}" / "checkpoints" / "best.pt"
    if not bundle.is_file():
        raise SertoolError(f"init_from: {bundle} not found (train fold {fold} of {path} first)")
    return bundle


def load_mapped(model: nn.Module, source: dict[str, Any], mapping: dict[str, str], where: str) -> list[str]:
    """Copy ``source`` tensors into ``model`` by prefix ``mapping`` (target → source); the names loaded."""
    own = model.state_dict()
    unused = [t for t in mapping if not any(k.startswith(t) for k in own)]
    if unused:
        raise SertoolError(f"init_from: no parameter of the model starts with {unused[0]!r}")
    prefixes = sorted(mapping, key=len, reverse=True)
    updates: dict[str, torch.Tensor] = {}
    for name, tensor in own.items():
        target = next((p for p in prefixes if name.startswith(p)), None)
        if target is None:
            continue
        src = mapping[target] + name[len(target):]
        if src not in source:
            raise SertoolError(f"init_from: {where} has no {src} (for {name})")
        if tuple(source[src].shape) != tuple(tensor.shape):
            raise SertoolError(f"init_from: {name} has shape {tuple(tensor.shape)} here but {src} in {where} "
                               f"has {tuple(source[src].shape)}")
        updates[name] = source[src]
    model.load_state_dict(updates, strict=False)
    return list(updates)


def initialise_from(model: nn.Module, exp: str | Path, mapping: dict[str, str], fold: str) -> list[str]:
    """Initialise ``model`` for fold ``fold`` from experiment ``exp``'s bundle of that fold (module docstring)."""
    path = source_bundle(exp, fold)
    state = load_checkpoint(path)
    if not isinstance(state.get("model"), dict):
        raise SertoolError(f"init_from: {path} is not a model bundle")
    return load_mapped(model, state["model"], mapping, str(path))
