"""sertool: multi-task speech emotion recognition toolkit.

Stages (each a ``sertool`` sub-command and a library function):
``prep`` → ``features`` → ``train`` → ``eval`` → ``infer``.

``from sertool import Predictor`` gives :class:`sertool.inference.Predictor`; it is imported on
first use, so ``import sertool`` stays cheap (no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Predictor", "__version__"]

if TYPE_CHECKING:
    from sertool.inference import Predictor


def __getattr__(name: str) -> Any:
    if name == "Predictor":
        from sertool.inference import Predictor

        return Predictor
    raise AttributeError(f"module 'sertool' has no attribute {name!r}")
