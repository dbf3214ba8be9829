"""Checkpoints: ``last.pt`` to resume a fold, ``best.pt`` as a self-contained model bundle.

``last.pt`` holds the model, optimiser, scheduler, gradient scaler and loss-weighting states, the
random generator states of every process, and the position in the data (epoch and update within
it), so a killed run resumes exactly where the checkpoint was taken.

Both hold only tensors, numbers, strings, lists and dicts, so they load with
``torch.load(..., weights_only=True)``. A model bundle (``best.pt``) carries everything
inference needs: the resolved configuration, the feature extractor's spec, the normalisation
statistics, each task's class names and the weights.

Example::

    save_checkpoint(path, {"model": model.state_dict(), "epoch": 3})
    load_checkpoint(path)["epoch"]
    # 3
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sertool.errors import SertoolError
from sertool.stage import atomic_path


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write atomically: a kill during the write leaves the previous checkpoint intact."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise SertoolError(f"checkpoint {path} is empty (0 bytes)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, random bytes or a foreign pickle: say which, never advise unpickling it
        text = str(e)
        why = ("it holds objects other than tensors and plain data (not written by sertool; it is never unpickled)"
               if "Weights only load failed" in text or "weights_only" in text
               else "it is not a complete PyTorch checkpoint (truncated or not a checkpoint)")
        raise SertoolError(f"cannot load checkpoint {path}: {why}") from None
    if not isinstance(state, dict):
        raise SertoolError(f"cannot load checkpoint {path}: it was not written by sertool")
    return state


def rng_state() -> dict[str, Any]:
    """Random generator states that affect training (dropout, initialisation, augmentation)."""
    import random

    import numpy as np

    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached": float(np_state[4])},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
