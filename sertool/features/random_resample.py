"""Random resampling (RR) of feature sequences, as SpeechSplit perturbs its inputs.

decomposed_speech_mtl.txt §2.1: the spectrogram and the pitch contour are cut into segments
and each segment is stretched or squeezed in time by its own random factor, which destroys
rhythm and speaking rate while keeping content (spectrogram) or pitch (contour). Segment
lengths are drawn from ``segment`` (SpeechSplit: 19–32 frames; set both ends equal for the
paper's equal-length segments) and factors from ``factor`` (output/input length, 0.5–1.5).

Use it online as a data-loader transform (:class:`RandomResample`) or let the pipeline store
variants (``random_resample: {copies: N}`` in the features config; tags ``rr0``, ``rr1`` …,
appended to an augmented copy's tag as ``speed0.91+rr0``).

Example:
    >>> rr = RandomResample(seed=0)
    >>> x = np.tile(np.arange(200, dtype=np.float32)[:, None], (1, 80))    # frame t holds the value t
    >>> y = rr(x)
    >>> y.shape, bool(np.all(np.diff(y[:, 0]) >= 0))       # another length, time order kept
    ((198, 80), True)
    >>> spec, f0 = rr.joint(x, x[:, 0])                     # one warp for arrays with equal frame counts
    >>> spec.shape[0] == f0.shape[0], np.array_equal(spec[:, 0], f0)
    (True, True)
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from sertool.features.config import require


@dataclass
class RandomResampleConfig:
    """Stored RR variants per matrix (0 = none) and the SpeechSplit segment/factor ranges."""

    copies: int = 0
    seed: int = 0
    segment: tuple[int, int] = (19, 32)
    factor: tuple[float, float] = (0.5, 1.5)

    def validate(self) -> None:
        require(self.copies >= 0, "random_resample.copies must be >= 0")
        require(1 <= self.segment[0] <= self.segment[1], "random_resample.segment must be [min, max] frames, min >= 1")
        require(0 < self.factor[0] <= self.factor[1], "random_resample.factor must be [min, max] with 0 < min <= max")


def resample_positions(num_frames: int, rng: np.random.Generator, segment: tuple[int, int] = (19, 32),
                       factor: tuple[float, float] = (0.5, 1.5)) -> np.ndarray:
    """Fractional source-frame positions of one random warp of a ``num_frames`` sequence.

    Each segment of ``L`` frames becomes ``max(1, round(L * f))`` output frames sampled
    evenly across it.
    """
    pieces = []
    start = 0
    while start < num_frames:
        length = min(int(rng.integers(segment[0], segment[1] + 1)), num_frames - start)
        out_len = max(1, int(round(length * rng.uniform(factor[0], factor[1]))))
        # centres of out_len equal cells spanning the segment, in source-frame units
        pos = start + (np.arange(out_len) + 0.5) * (length / out_len) - 0.5
        pieces.append(np.clip(pos, start, start + length - 1))
        start += length
    return np.concatenate(pieces) if pieces else np.zeros(0)


def apply_positions(x: np.ndarray, positions: np.ndarray, mode: str = "linear") -> np.ndarray:
    """Sample rows of ``x`` (frames, ...) at fractional ``positions`` (linear or nearest)."""
    if mode == "nearest":
        return x[np.rint(positions).astype(np.int64)]
    if mode != "linear":
        raise ValueError(f"mode must be 'linear' or 'nearest', got {mode!r}")
    lo = np.floor(positions).astype(np.int64)
    hi = np.minimum(lo + 1, x.shape[0] - 1)
    w = (positions - lo).astype(x.dtype).reshape((-1,) + (1,) * (x.ndim - 1))  # (T,) or (T, 1)
    return x[lo] * (1 - w) + x[hi] * w


def random_resample(x: np.ndarray, rng: np.random.Generator, segment: tuple[int, int] = (19, 32),
                    factor: tuple[float, float] = (0.5, 1.5), mode: str = "linear") -> np.ndarray:
    """One random warp of ``x`` (frames, dims)."""
    return apply_positions(x, resample_positions(x.shape[0], rng, segment, factor), mode)


def variant_rng(seed: int, utt_id: str, tag: str) -> np.random.Generator:
    """A generator fixed by ``seed``, the utterance and the variant tag (stable across runs)."""
    return np.random.default_rng([seed, zlib.crc32(utt_id.encode()), zlib.crc32(tag.encode())])


class RandomResample:
    """Data-loader transform: a random warp per call, reproducible for a seed.

    ``seed`` None draws the seed from ``torch.initial_seed()`` in each process, so a
    DataLoader with a seeded generator gives reproducible, per-worker different warps.
    Accepts numpy arrays or torch tensors and returns the same kind.
    """

    def __init__(self, segment: tuple[int, int] = (19, 32), factor: tuple[float, float] = (0.5, 1.5),
                 mode: str = "linear", seed: int | None = None) -> None:
        RandomResampleConfig(segment=tuple(segment), factor=tuple(factor)).validate()
        self.segment, self.factor, self.mode, self.seed = tuple(segment), tuple(factor), mode, seed
        self._rng: np.random.Generator | None = None
        self._pid = -1

    def rng(self) -> np.random.Generator:
        """This process's generator (created on first use after a fork)."""
        if self._rng is None or self._pid != os.getpid():
            seed = self.seed
            if seed is None:
                import torch

                seed = torch.initial_seed()
            self._rng, self._pid = np.random.default_rng(seed), os.getpid()
        return self._rng

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_rng": None, "_pid": -1}

    def joint(self, *arrays: Any, rng: np.random.Generator | None = None) -> tuple[Any, ...]:
        """Warp several arrays with the same frame count by one shared warp."""
        frames = {a.shape[0] for a in arrays}
        if len(frames) != 1:
            raise ValueError(f"joint random resampling needs equal frame counts, got {sorted(frames)}")
        pos = resample_positions(frames.pop(), rng or self.rng(), self.segment, self.factor)
        return tuple(self._apply(a, pos) for a in arrays)

    def __call__(self, x: Any, rng: np.random.Generator | None = None) -> Any:
        return self.joint(x, rng=rng)[0]

    def _apply(self, x: Any, pos: np.ndarray) -> Any:
        if isinstance(x, np.ndarray):
            return apply_positions(x, pos, self.mode)
        import torch

        return torch.from_numpy(apply_positions(x.detach().cpu().numpy(), pos, self.mode)).to(x.device)
