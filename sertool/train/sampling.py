"""The batches of a training epoch: a pure function of (seed, epoch), split across processes.

Each corpus contributes ``round(ratio × size)`` utterances per epoch (whole shuffled passes, then
part of one more: ratio 0.5 draws a different half every epoch, ratio 2 every utterance twice),
and the draws of all corpora are shuffled together into batches of ``batch_size`` (the last one
may be smaller). Because the order depends only on (seed, epoch), a run resumed after step k of an
epoch skips the first k batches and sees exactly the batches an uninterrupted run sees. With
several processes (``torchrun``), each global batch is dealt out among them (``batch[rank::world]``),
so the number of updates and the global batch size do not depend on the number of processes.

Example:
    >>> sampler = EpochBatches(sizes=[6, 4], ratios=[1.0, 0.5], batch_size=4, seed=0)
    >>> [len(b) for b in sampler.batches(epoch=0)]
    [4, 4]
    >>> sampler.batches(epoch=0) == sampler.batches(epoch=0) != sampler.batches(epoch=1)
    True
"""

from __future__ import annotations

import numpy as np

from sertool.errors import SertoolError


class EpochBatches:
    """Batches of dataset indices (corpora concatenated in order) for one process."""

    def __init__(self, sizes: list[int], ratios: list[float], batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1):
        if batch_size < 1:
            raise SertoolError(f"train.batch_size must be ≥ 1, got {batch_size}")
        self.sizes, self.ratios = list(sizes), list(ratios)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])[:-1].astype(np.int64)
        self.counts = [round(r * n) if n else 0 for n, r in zip(self.sizes, self.ratios)]
        if sum(self.counts) == 0:
            raise SertoolError("no training utterances to sample")
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size

    @property
    def epoch_size(self) -> int:
        return sum(self.counts)

    def __len__(self) -> int:
        """Updates per epoch."""
        return -(-self.epoch_size // self.batch_size)

    def _draw(self, epoch: int, source: int) -> np.ndarray:
        n, count = self.sizes[source], self.counts[source]
        rng = np.random.default_rng([self.seed, epoch, source, 1])
        passes = [rng.permutation(n) for _ in range(-(-count // n))]
        return np.concatenate(passes)[:count] + self.offsets[source]

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every process's batches of ``epoch``, before dealing them out."""
        drawn = np.concatenate([self._draw(epoch, s) for s in range(len(self.sizes)) if self.counts[s]])
        order = np.random.default_rng([self.seed, epoch, 0]).permutation(drawn).tolist()
        return [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """This process's share of the batches of ``epoch``, from update ``start`` on."""
        out = []
        for batch in self.global_batches(epoch)[start:]:
            if len(batch) < self.world_size:  # every process needs an item: repeat a short last batch
                batch = (batch * self.world_size)[: self.world_size]
            out.append(batch[self.rank:: self.world_size])
        return out
