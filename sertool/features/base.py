"""The extractor interface and the registry that names extractors.

An extractor is a callable ``(wave, sample_rate) -> features``: ``wave`` is float32 mono,
the result float32 ``(frames, dims)``. Its attributes say what the pipeline must give it and
what it returns: ``sample_rate`` (the rate it wants; the pipeline resamples to it),
``frame_shift`` (seconds between frames) and ``dims``. :meth:`Extractor.num_frames` is the
documented frame-count formula for a number of input samples.

Subclasses register under a name with :func:`register` and declare their config dataclass.

Example:
    A new extractor is a class with a config dataclass and a ``compute``::

        @register("energy")
        class Energy(Extractor):
            Config = EnergyConfig
            def compute(self, wave): ...

        EXTRACTORS.get("energy")     # → Energy
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import soxr

from sertool.features.config import config_dict
from sertool.registry import Registry

#: Feature extractors by name (``sertool features --extractor NAME``).
EXTRACTORS: Registry[type[Extractor]] = Registry("extractor")


def register(name: str) -> Callable[[type[Extractor]], type[Extractor]]:
    """Class decorator adding an extractor class to :data:`EXTRACTORS` under ``name``."""

    def add(cls: type[Extractor]) -> type[Extractor]:
        cls.name = name
        EXTRACTORS.add(name, cls)
        return cls

    return add


class Extractor:
    """Base class: holds the resolved config; subclasses implement :meth:`compute`.

    :attr:`needs_speaker_stats` marks extractors whose final matrix depends on statistics over
    each speaker's utterances (pitch normalised per speaker): the pipeline then calls :meth:`raw`
    on every utterance, pools :meth:`raw_stats` per speaker, and calls :meth:`finalize` with the
    pooled stats. ``resample_mode`` is how random resampling interpolates its frames.
    """

    name: ClassVar[str] = ""
    Config: ClassVar[type]
    resample_mode: ClassVar[str] = "linear"

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    def needs_speaker_stats(self) -> bool:
        """Whether the final matrix needs the speaker's pooled :meth:`raw_stats` (two passes)."""
        return False

    def set_gender(self, gender: str | None) -> None:
        """The manifest's gender ('F', 'M' or None) of the speaker of the clips that follow.

        Ignored here; the ``pitch`` extractor's RAPT chooses its F0 range by it.
        """

    # -- what the pipeline reads -------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        """Sample rate (Hz) the extractor computes at."""
        return int(self.config.sample_rate)

    @property
    def frame_shift(self) -> float:
        """Seconds between consecutive frames."""
        raise NotImplementedError

    @property
    def dims(self) -> int:
        """Columns of the output matrix."""
        raise NotImplementedError

    @property
    def raw_dims(self) -> int:
        """Columns of the first-pass matrix (:meth:`raw`)."""
        return self.dims

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples at :attr:`sample_rate`."""
        raise NotImplementedError

    def conf_dict(self) -> dict[str, Any]:
        """The resolved configuration as plain data (saved beside the features)."""
        return config_dict(self.config)

    # -- computing ---------------------------------------------------------------------
    def compute(self, wave: np.ndarray) -> np.ndarray:
        """Features of float32 mono ``wave`` at :attr:`sample_rate`, shape ``(frames, dims)``."""
        raise NotImplementedError

    def __call__(self, wave: np.ndarray, sample_rate: int) -> np.ndarray:
        """Features of ``wave`` sampled at ``sample_rate`` (resampled when it differs)."""
        wave = np.asarray(wave, dtype=np.float32)
        if wave.ndim != 1:
            raise ValueError(f"expected mono 1-D wave, got shape {wave.shape}")
        if sample_rate != self.sample_rate:
            wave = soxr.resample(wave, sample_rate, self.sample_rate, quality="HQ").astype(np.float32)
        return np.ascontiguousarray(self.compute(wave), dtype=np.float32)

    # -- two-pass extractors (speaker statistics) ----------------------------------------
    def raw(self, wave: np.ndarray) -> np.ndarray:
        """First-pass matrix (defaults to the final features)."""
        return self.compute(wave)

    def raw_stats(self, raw: np.ndarray) -> np.ndarray | None:
        """Sufficient statistics ``[count, sum, sum of squares]`` of one first-pass matrix."""
        return None

    def finalize(self, raw: np.ndarray, stats: np.ndarray | None) -> np.ndarray:
        """Final features from a first-pass matrix and its speaker's pooled statistics."""
        return raw

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config})"
