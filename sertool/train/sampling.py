"""The batches of a training epoch: a pure function of (seed, epoch), split across processes.

Each corpus contributes ``round(ratio × size)`` utterances per epoch (whole shuffled passes, then
part of one more: ratio 0.5 draws a different half every epoch, ratio 2 every utterance twice),
and the draws of all corpora are shuffled together into batches of ``batch_size`` (the last one
may be smaller). Because the order depends only on (seed, epoch), a run resumed after step k of an
epoch skips the first k batches and sees exactly the batches an uninterrupted run sees. With
several processes (``torchrun``), each global batch is dealt out among them (``batch[rank::world]``),
so the number of updates and the global batch size do not depend on the number of processes.

With ``shares`` (one per corpus, e.g. ``[0.5, 0.25, 0.25]``), every batch instead holds a fixed
number of each corpus's utterances, ``round(share × batch_size)`` (at least one), as speecheq.txt
Algorithm 1 draws an emotion, a phoneme and a gender mini-batch for every update. The first
corpus sets the epoch (one pass over its epoch draw); the others are drawn from their own shuffled
passes, as many as the epoch needs.

With ``batch_seconds`` (dynamic batching, for audio models whose cost grows with the padded
batch), batches are cut by duration instead of count: the epoch's shuffled draw is split into
pools of about 64 batches, each pool is sorted by duration, and consecutive utterances form a
batch while ``count × longest`` stays within ``batch_seconds`` (and the count within
``batch_size``); the batches are then shuffled. Padding stays small, memory is bounded by the
padded seconds, and every epoch still draws different batches. The number of batches can differ
by a few from epoch to epoch (:meth:`EpochBatches.num_batches`).

Example:
    >>> sampler = EpochBatches(sizes=[6, 4], ratios=[1.0, 0.5], batch_size=4, seed=0)
    >>> [len(b) for b in sampler.batches(epoch=0)]
    [4, 4]
    >>> sampler.batches(epoch=0) == sampler.batches(epoch=0) != sampler.batches(epoch=1)
    True
    >>> shared = EpochBatches(sizes=[6, 4], ratios=[1.0, 1.0], batch_size=4, seed=0, shares=[0.5, 0.5])
    >>> [sorted(i >= 6 for i in b) for b in shared.batches(epoch=0)]      # two of each corpus per batch
    [[False, False, True, True], [False, False, True, True], [False, False, True, True]]
    >>> durations = [1.0, 1.0, 1.0, 1.0, 4.0, 4.0]                     # seconds, one corpus
    >>> dynamic = EpochBatches(sizes=[6], ratios=[1.0], batch_size=8, seed=0, durations=durations,
    ...                        batch_seconds=8.0)
    >>> sorted(sorted(durations[i] for i in b) for b in dynamic.batches(epoch=0))   # short ones together
    [[1.0, 1.0, 1.0, 1.0], [4.0, 4.0]]
"""

from __future__ import annotations

import numpy as np

from sertool.errors import SertoolError


class EpochBatches:
    """Batches of dataset indices (corpora concatenated in order) for one process."""

    def __init__(self, sizes: list[int], ratios: list[float], batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, shares: list[float] | None = None,
                 durations: list[float] | np.ndarray | None = None, batch_seconds: float | None = None):
        if batch_size < 1:
            raise SertoolError(f"train.batch_size must be ≥ 1, got {batch_size}")
        self.sizes, self.ratios = list(sizes), list(ratios)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])[:-1].astype(np.int64)
        self.counts = [round(r * n) if n else 0 for n, r in zip(self.sizes, self.ratios)]
        if sum(self.counts) == 0:
            raise SertoolError("no training utterances to sample")
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.quotas: list[int] | None = None
        if shares is not None:
            if len(shares) != len(self.sizes) or any(s <= 0 for s in shares) or sum(shares) > 1 + 1e-9:
                raise SertoolError(f"batch shares must be one per corpus, each > 0, summing to at most 1; got {shares}")
            if any(n == 0 for n in self.sizes):
                raise SertoolError("every corpus with a batch share needs training utterances in this fold")
            self.quotas = [max(1, round(s * batch_size)) for s in shares]
        self.durations: np.ndarray | None = None
        self.batch_seconds = batch_seconds
        if batch_seconds is not None:
            if not batch_seconds > 0:
                raise SertoolError(f"train.batch_seconds must be positive, got {batch_seconds}")
            if shares is not None:
                raise SertoolError("train.batch_seconds (dynamic batches) and per-corpus batch shares exclude each "
                                   "other: a batch is cut either by duration or by corpus quotas")
            if durations is None or len(durations) != sum(self.sizes):
                raise SertoolError("dynamic batches need one duration per training utterance")
            self.durations = np.asarray(durations, dtype=np.float64)

    @property
    def epoch_size(self) -> int:
        return sum(self.counts)

    def __len__(self) -> int:
        """Batches per epoch (with dynamic batches: of the first epoch, see :meth:`num_batches`)."""
        if self.durations is not None:
            return self.num_batches(0)
        if self.quotas is not None:
            return -(-self.counts[0] // self.quotas[0])
        return -(-self.epoch_size // self.batch_size)

    def _draw(self, epoch: int, source: int, count: int | None = None) -> np.ndarray:
        n = self.sizes[source]
        count = self.counts[source] if count is None else count
        rng = np.random.default_rng([self.seed, epoch, source, 1])
        passes = [rng.permutation(n) for _ in range(-(-count // n))]
        return np.concatenate(passes)[:count] + self.offsets[source]

    def _shared_batches(self, epoch: int) -> list[list[int]]:
        assert self.quotas is not None
        steps = len(self)
        main = self._draw(epoch, 0)
        others = [self._draw(epoch, s, steps * q) for s, q in enumerate(self.quotas) if s > 0]
        batches = []
        for b in range(steps):
            batch = main[b * self.quotas[0]: (b + 1) * self.quotas[0]].tolist()
            for s, drawn in enumerate(others, start=1):
                batch += drawn[b * self.quotas[s]: (b + 1) * self.quotas[s]].tolist()
            batches.append(batch)
        return batches

    def num_batches(self, epoch: int) -> int:
        """Batches of ``epoch`` (the same for every epoch unless batches are cut by duration)."""
        return len(self.global_batches(epoch)) if self.durations is not None else len(self)

    def _dynamic_batches(self, order: np.ndarray, epoch: int) -> list[list[int]]:
        assert self.durations is not None and self.batch_seconds is not None
        dur = self.durations[order]
        # Pools of ~64 batches: sorting a pool by duration keeps padding small, while the pools'
        # random membership keeps batches different from epoch to epoch (lhotse/SpeechBrain style).
        per_batch = max(1.0, min(self.batch_size, self.batch_seconds / max(float(dur.mean()), 1e-6)))
        pool = max(1, int(64 * per_batch))
        batches: list[list[int]] = []
        for p in range(0, len(order), pool):
            idx = np.argsort(dur[p: p + pool], kind="stable") + p
            batch: list[int] = []
            longest = 0.0
            for i in idx:
                d = float(dur[i])
                if batch and (len(batch) >= self.batch_size or (len(batch) + 1) * max(longest, d) > self.batch_seconds):
                    batches.append(batch)
                    batch, longest = [], 0.0
                batch.append(int(order[i]))
                longest = max(longest, d)
            batches.append(batch)
        perm = np.random.default_rng([self.seed, epoch, 2]).permutation(len(batches))
        return [batches[i] for i in perm]

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every process's batches of ``epoch``, before dealing them out."""
        if self.quotas is not None:
            return self._shared_batches(epoch)
        drawn = np.concatenate([self._draw(epoch, s) for s in range(len(self.sizes)) if self.counts[s]])
        order = np.random.default_rng([self.seed, epoch, 0]).permutation(drawn)
        if self.durations is not None:
            return self._dynamic_batches(order, epoch)
        order = order.tolist()
        return [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def batches(self, epoch: int, start: int = 0) -> list[list[int]]:
        """This process's share of the batches of ``epoch``, from update ``start`` on."""
        out = []
        for batch in self.global_batches(epoch)[start:]:
            if len(batch) < self.world_size:  # every process needs an item: repeat a short last batch
                batch = (batch * self.world_size)[: self.world_size]
            out.append(batch[self.rank:: self.world_size])
        return out
