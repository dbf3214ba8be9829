"""Cepstral mean and variance statistics, global and per speaker, poolable over any speaker subset.

``cmvn.json`` in a feature directory::

    {"dims": 80,
     "global":   {"count": 123456, "mean": [...], "var": [...]},
     "speakers": {"iemocap/Ses01F": {"count": 6789, "mean": [...], "var": [...]}, ...}}

``count`` is a number of frames, ``mean``/``var`` are per dimension (population variance).
Only original utterances count (augmented and resampled copies do not), so the statistics
describe the corpus. Because each speaker's count, mean and variance are stored, the
statistics of any set of speakers pool exactly (:meth:`Cmvn.pooled`): the trainer normalises
with the training fold's speakers only, so test speakers never leak into normalisation.

A trainer reads them with ``Cmvn.load(feats_dir)`` and normalises ``(feats - mean) / std``.

Example:
    >>> acc = SpeakerMoments(2)
    >>> acc.add("x/a", np.array([[0, 1], [2, 3]], np.float32))
    >>> acc.add("x/b", np.array([[4, 5], [6, 7]], np.float32))
    >>> cmvn = Cmvn(2, acc.by_speaker)
    >>> cmvn.pooled(["x/a"])                  # a training fold holding speaker x/a only
    (array([1., 2.], dtype=float32), array([1., 1.], dtype=float32))
    >>> mean, std = cmvn.pooled()            # all speakers: exactly the moments of the four frames
    >>> mean, std.round(4)
    (array([3., 4.], dtype=float32), array([2.2361, 2.2361], dtype=float32))
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sertool.errors import SertoolError
from sertool.stage import atomic_write_json

CMVN_NAME = "cmvn.json"
DEFAULT_STD_FLOOR = 1e-5


@dataclass
class Moments:
    """Frame count, mean and population variance per dimension (float64)."""

    count: int
    mean: np.ndarray
    var: np.ndarray

    @classmethod
    def of(cls, feats: np.ndarray) -> Moments:
        """Moments of the frames (rows) of ``feats``."""
        n = feats.shape[0]
        # float64 accumulation straight from float32 (no float64 copy of the matrix); with
        # feature magnitudes far below 1e8 the sum-of-squares form loses nothing measurable
        mean = feats.sum(axis=0, dtype=np.float64) / n
        sq = np.einsum("ij,ij->j", feats, feats, dtype=np.float64) / n
        return cls(int(n), mean, np.maximum(sq - mean * mean, 0.0))

    @classmethod
    def empty(cls, dims: int) -> Moments:
        return cls(0, np.zeros(dims), np.zeros(dims))

    def __add__(self, other: Moments) -> Moments:
        """Pool two sets of frames exactly (Chan et al.'s parallel update, stable in float64)."""
        n = self.count + other.count
        if n == 0:
            return Moments.empty(self.mean.shape[0])
        mean = (self.count * self.mean + other.count * other.mean) / n
        m2 = (self.count * (self.var + np.square(self.mean - mean))
              + other.count * (other.var + np.square(other.mean - mean)))
        return Moments(n, mean, m2 / n)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean.tolist(), "var": self.var.tolist()}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Moments:
        return cls(int(d["count"]), np.asarray(d["mean"], np.float64), np.asarray(d["var"], np.float64))


def pool(moments: Iterable[Moments], dims: int) -> Moments:
    """Pool any number of :class:`Moments` (empty → zero count)."""
    total = Moments.empty(dims)
    for m in moments:
        total = total + m
    return total


class SpeakerMoments:
    """Accumulates :class:`Moments` per speaker while a shard is written.

    Example:
        >>> acc = SpeakerMoments(80)
        >>> acc.add("ravdess/01", np.ones((312, 80), np.float32))
        >>> acc.add("ravdess/01", np.zeros((88, 80), np.float32))
        >>> stats = acc.to_json()["ravdess/01"]
        >>> stats["count"], round(stats["mean"][0], 6), round(stats["var"][0], 6)   # 400 frames, 312 of them ones
        (400, 0.78, 0.1716)
    """

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.by_speaker: dict[str, Moments] = {}

    def add(self, speaker: str, feats: np.ndarray) -> None:
        self.add_moments(speaker, Moments.of(feats))

    def add_moments(self, speaker: str, m: Moments) -> None:
        prev = self.by_speaker.get(speaker)
        self.by_speaker[speaker] = m if prev is None else prev + m

    def to_json(self) -> dict[str, Any]:
        return {spk: m.to_json() for spk, m in self.by_speaker.items()}

    def update_json(self, d: dict[str, Any]) -> None:
        """Add the speakers of a :meth:`to_json` mapping (another shard's statistics)."""
        for spk, m in d.items():
            self.add_moments(spk, Moments.from_json(m))


class Cmvn:
    """Global and per-speaker statistics of a feature directory."""

    def __init__(self, dims: int, speakers: dict[str, Moments]) -> None:
        self.dims = dims
        self.speakers = speakers
        self.global_ = pool(speakers.values(), dims)

    @classmethod
    def load(cls, feats_dir: str | Path) -> Cmvn:
        """Read ``feats_dir/cmvn.json``."""
        path = Path(feats_dir) / CMVN_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError:
            raise SertoolError(f"CMVN statistics not found: {path}") from None
        except ValueError as e:
            raise SertoolError(f"malformed {path}: {e}") from None
        return cls(int(data["dims"]), {s: Moments.from_json(m) for s, m in data["speakers"].items()})

    def save(self, feats_dir: str | Path) -> None:
        """Write ``feats_dir/cmvn.json`` atomically."""
        atomic_write_json(Path(feats_dir) / CMVN_NAME, {
            "dims": self.dims,
            "global": self.global_.to_json(),
            "speakers": {s: self.speakers[s].to_json() for s in sorted(self.speakers)},
        }, indent=None)

    def moments(self, speakers: Iterable[str] | None = None) -> Moments:
        """Pooled :class:`Moments` of ``speakers`` (all when ``None``)."""
        if speakers is None:
            return self.global_
        chosen = list(speakers)
        missing = [s for s in chosen if s not in self.speakers]
        if missing:
            raise SertoolError(f"no CMVN statistics for speaker {missing[0]!r}")
        if not chosen:
            raise SertoolError("CMVN pooling needs at least one speaker")
        return pool((self.speakers[s] for s in chosen), self.dims)

    def pooled(self, speakers: Iterable[str] | None = None,
               std_floor: float = DEFAULT_STD_FLOOR) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, std)`` float32 over ``speakers``' frames (``None`` = all); std floored at ``std_floor``."""
        m = self.moments(speakers)
        std = np.maximum(np.sqrt(m.var), std_floor)
        return m.mean.astype(np.float32), std.astype(np.float32)
