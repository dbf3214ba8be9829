"""Epoch batches: corpus ratios, a pure function of (seed, epoch), resumable, dealt out to processes."""

from collections import Counter

import numpy as np
import pytest

from sertool.errors import SertoolError
from sertool.train.sampling import EpochBatches


def flat(batches):
    return [i for b in batches for i in b]


def test_ratios_set_each_corpus_share_of_an_epoch():
    s = EpochBatches(sizes=[10, 4, 6], ratios=[1.0, 2.0, 0.5], batch_size=4, seed=1)
    drawn = Counter(flat(s.batches(0)))
    assert s.epoch_size == 10 + 8 + 3 and len(s) == 6
    assert all(drawn[i] == 1 for i in range(10))  # ratio 1: every utterance once
    assert all(drawn[i] == 2 for i in range(10, 14))  # ratio 2: twice
    assert sum(drawn[i] for i in range(14, 20)) == 3 and max(drawn[i] for i in range(14, 20)) == 1  # a half
    assert {i for i in range(14, 20) if drawn[i]} != {i for i in range(14, 20) if Counter(flat(s.batches(1)))[i]}


def test_order_is_a_function_of_seed_and_epoch_and_resumes_mid_epoch():
    s = EpochBatches([7], [1.0], batch_size=2, seed=3)
    assert s.batches(2) == EpochBatches([7], [1.0], 2, seed=3).batches(2)
    assert s.batches(2) != s.batches(3) and s.batches(2) != EpochBatches([7], [1.0], 2, seed=4).batches(2)
    assert s.batches(2, start=2) == s.batches(2)[2:]
    assert [len(b) for b in s.batches(0)] == [2, 2, 2, 1]


def test_processes_share_every_global_batch():
    single = EpochBatches([9], [1.0], batch_size=4, seed=0)
    ranks = [EpochBatches([9], [1.0], batch_size=4, seed=0, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single)  # as many updates as one process makes
    for step, batch in enumerate(single.batches(0)):
        parts = [r.batches(0)[step] for r in ranks]
        assert all(parts) and set(parts[0]) | set(parts[1]) == set(batch)


def test_nothing_to_sample_is_an_error():
    with pytest.raises(SertoolError, match="no training utterances"):
        EpochBatches([0], [1.0], 4, 0)


def test_every_batch_holds_each_corpus_share():
    # speecheq.txt Algorithm 1: an emotion, a phoneme and a gender mini-batch for every update
    sizes = [20, 50, 7]
    sampler = EpochBatches(sizes, [1.0, 1.0, 1.0], batch_size=8, seed=3, shares=[0.5, 0.25, 0.25])
    batches = sampler.batches(epoch=0)
    assert len(batches) == len(sampler) == 5  # the first corpus (20 items, 4 per batch) sets the epoch
    source = [0] * 20 + [1] * 50 + [2] * 7
    for b in batches:
        assert [sum(source[i] == s for i in b) for s in range(3)] == [4, 2, 2]
    first = [i for b in batches for i in b if source[i] == 0]
    assert sorted(first) == list(range(20))  # one pass over the main corpus
    assert batches == EpochBatches(sizes, [1.0] * 3, 8, 3, shares=[0.5, 0.25, 0.25]).batches(epoch=0)
    with pytest.raises(SertoolError, match="batch shares"):
        EpochBatches(sizes, [1.0] * 3, 8, 3, shares=[0.8, 0.3, 0.1])


def test_dynamic_batches_bound_padded_seconds_and_keep_padding_small():
    # ssl_mtl.txt models read the waveform: batches cut by padded seconds, similar durations together
    rng = np.random.default_rng(0)
    durations = rng.uniform(1.0, 12.0, size=300)
    sampler = EpochBatches([300], [1.0], batch_size=16, seed=0, durations=durations, batch_seconds=40.0)
    batches = sampler.batches(epoch=0)
    assert sorted(flat(batches)) == list(range(300))  # one pass, nothing lost or repeated
    for b in batches:
        d = durations[b]
        assert len(b) <= 16 and (len(b) == 1 or len(b) * d.max() <= 40.0)
    padded = sum(len(b) * durations[b].max() for b in batches)
    fixed = EpochBatches([300], [1.0], batch_size=8, seed=0).batches(epoch=0)  # similar count, by count
    padded_fixed = sum(len(b) * durations[b].max() for b in fixed)
    assert padded / durations.sum() < 1.1 < padded_fixed / durations.sum()
    assert batches != sampler.batches(epoch=1)  # pools change: not the same batches every epoch
    assert sampler.num_batches(1) == len(sampler.batches(epoch=1))
    assert sampler.batches(1, start=3) == sampler.batches(1)[3:]  # resumable mid-epoch


def test_a_clip_longer_than_the_budget_is_a_batch_of_its_own():
    sampler = EpochBatches([3], [1.0], batch_size=8, seed=0, durations=[30.0, 1.0, 1.0], batch_seconds=10.0)
    assert sorted(map(sorted, sampler.batches(epoch=0))) == [[0], [1, 2]]


def test_dynamic_batches_refuse_bad_settings():
    with pytest.raises(SertoolError, match="exclude each other"):
        EpochBatches([2, 2], [1.0, 1.0], 4, 0, shares=[0.5, 0.5], durations=[1.0] * 4, batch_seconds=5.0)
    with pytest.raises(SertoolError, match="one duration per"):
        EpochBatches([3], [1.0], 4, 0, durations=[1.0], batch_seconds=5.0)
    with pytest.raises(SertoolError, match="positive"):
        EpochBatches([3], [1.0], 4, 0, durations=[1.0] * 3, batch_seconds=0.0)
