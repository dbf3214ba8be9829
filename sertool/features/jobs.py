"""Shard jobs of the features stage, run in worker processes (or in-process for ``--jobs 1``).

A :class:`ShardJob` names one shard (a fixed chunk of utterances) and the :class:`Target`
feature directories to write it into; everything in it is plain picklable data, and a
worker rebuilds (and caches) extractors from their names and settings. ``extract`` jobs read
each audio file once, resample it once per rate the targets need, make the augmented copies
and write every target's matrices (first-pass matrices into ``.stage/`` for targets that need
speaker statistics); ``finalize`` jobs turn staged matrices into final ones. Workers die with
the process that started them, even when it is killed by SIGKILL (:func:`die_with_parent`).

Example::

    job = ShardJob(0, [UttRef("ravdess/a", "/data/a.wav", "ravdess/01")], [target],
                   augment={"copies": 0}, random_resample={"copies": 0})
    run_jobs([job], workers=1, description="features")[0].audio_seconds   # 3.2
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from sertool.audio import read_audio
from sertool.features.augment import AugmentConfig, Augmenter
from sertool.features.base import Extractor
from sertool.features.extractors import get_extractor
from sertool.features.random_resample import RandomResampleConfig, random_resample, variant_rng
from sertool.features.storage import ShardWriter, read_fragment, shard_name
from sertool.processes import die_with_parent, one_thread

STAGE_DIR = ".stage"


@dataclass
class Target:
    """One output feature directory: which extractor, where, and the digest of its settings."""

    name: str
    conf: dict[str, Any]
    feats_dir: Path
    settings: dict[str, Any]
    digest: str = ""

    @property
    def staged(self) -> bool:
        """Whether this extractor needs speaker statistics (two passes through ``.stage/``)."""
        return cached_extractor(self.name, self.conf).needs_speaker_stats

    @property
    def stage_dir(self) -> Path:
        return self.feats_dir / STAGE_DIR

    @property
    def stage_digest(self) -> str:
        return self.digest + "-stage"


@dataclass
class UttRef:
    """What a worker needs of a manifest line."""

    id: str
    audio: str
    speaker: str
    gender: str | None = None


@dataclass
class ShardJob:
    """Compute shard ``shard`` for some targets. ``phase`` is ``"extract"`` or ``"finalize"``."""

    shard: int
    utts: list[UttRef]
    targets: list[Target]
    augment: dict[str, Any]
    random_resample: dict[str, Any]
    phase: str = "extract"
    speaker_stats: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class ShardResult:
    """What a finished job reports: its shard and the seconds of audio it read."""

    shard: int
    audio_seconds: float


_EXTRACTORS: dict[str, Extractor] = {}


def cached_extractor(name: str, conf: dict[str, Any]) -> Extractor:
    """Build an extractor once per process (mel bases, filters are precomputed in __init__)."""
    key = name + json.dumps(conf, sort_keys=True)
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = get_extractor(name, conf)
    return _EXTRACTORS[key]


def write_with_variants(writer: ShardWriter, ext: Extractor, rr: RandomResampleConfig, utt: UttRef,
                        aug: str | None, feats: np.ndarray) -> None:
    """Store ``feats`` and its random-resampling variants (``rr0``, ``rr1`` … appended to the tag)."""
    writer.add(utt.id, aug, utt.speaker, feats)
    for k in range(rr.copies):
        tag = f"rr{k}" if aug is None else f"{aug}+rr{k}"
        rng = variant_rng(rr.seed, utt.id, tag)
        writer.add(utt.id, tag, utt.speaker, random_resample(feats, rng, rr.segment, rr.factor, ext.resample_mode))


def waveforms(utt: UttRef, rates: Iterable[int], augmenter: Augmenter) -> tuple[dict[int, list], float]:
    """Read ``utt`` once; per rate, ``[(aug tag or None, wave), ...]`` (original first); and its seconds."""
    native, sr = read_audio(utt.audio)
    variants = {}
    for rate in rates:
        wave = native if rate == sr else soxr.resample(native, sr, rate, quality="HQ").astype(np.float32)
        variants[rate] = [(None, wave), *augmenter.copies(utt.id, wave, rate)]
    return variants, native.size / sr


def add_speaker_stats(extra: dict[str, Any], speaker: str, stats: np.ndarray) -> None:
    """Add one utterance's sufficient statistics to its speaker's running sum in a shard fragment."""
    pooled = extra.setdefault("speaker_stats", {})
    pooled[speaker] = (np.asarray(pooled.get(speaker, np.zeros_like(stats))) + stats).tolist()


def run_extract(job: ShardJob) -> ShardResult:
    """First phase of a shard: read each file once and write every target's matrices."""
    rr = RandomResampleConfig(**job.random_resample)
    augmenter = Augmenter(AugmentConfig(**job.augment))
    exts = [cached_extractor(t.name, t.conf) for t in job.targets]
    seconds = 0.0
    with ExitStack() as stack:
        writers = []
        for t, ext in zip(job.targets, exts):
            w = (ShardWriter(t.stage_dir, job.shard, t.name, ext.frame_shift, ext.raw_dims, t.stage_digest) if t.staged
                 else ShardWriter(t.feats_dir, job.shard, t.name, ext.frame_shift, ext.dims, t.digest))
            writers.append(stack.enter_context(w))
        for utt in job.utts:
            variants, secs = waveforms(utt, sorted({e.sample_rate for e in exts}), augmenter)
            seconds += secs
            for t, ext, writer in zip(job.targets, exts, writers):
                ext.set_gender(utt.gender)
                for aug, wave in variants[ext.sample_rate]:
                    if t.staged:
                        raw = ext.raw(wave)
                        writer.add(utt.id, aug, utt.speaker, raw)
                        if aug is None:  # speaker statistics come from originals only
                            add_speaker_stats(writer.extra, utt.speaker, ext.raw_stats(raw))
                    else:
                        write_with_variants(writer, ext, rr, utt, aug, ext.compute(wave))
    return ShardResult(job.shard, seconds)


def run_finalize(job: ShardJob) -> ShardResult:
    """Second phase of a shard for speaker-statistics extractors: staged matrices → final ones."""
    import h5py

    rr = RandomResampleConfig(**job.random_resample)
    speakers = {u.id: u for u in job.utts}
    for t in job.targets:
        ext = cached_extractor(t.name, t.conf)
        frag = read_fragment(t.stage_dir, job.shard)
        assert frag is not None, f"staged shard {job.shard} of {t.feats_dir} vanished"
        with h5py.File(t.stage_dir / shard_name(job.shard), "r") as staged, \
                ShardWriter(t.feats_dir, job.shard, t.name, ext.frame_shift, ext.dims, t.digest) as writer:
            for e in frag["entries"]:
                utt = speakers[e["id"]]
                stats = job.speaker_stats.get(utt.speaker)
                feats = ext.finalize(staged[e["key"]][()], None if stats is None else np.asarray(stats))
                write_with_variants(writer, ext, rr, utt, e["aug"], feats)
    return ShardResult(job.shard, 0.0)


def run_job(job: ShardJob) -> ShardResult:
    """Entry point of a worker task."""
    return run_extract(job) if job.phase == "extract" else run_finalize(job)


_WORKER_THREADS: list[Any] = []


def init_worker(parent_pid: int) -> None:
    """Per worker process: die with the parent, and one thread for torch, BLAS and OpenMP.

    The single thread is also what makes results identical for every ``--jobs``: BLAS sums
    in a different order with another thread count, which changes the last bits of log-mel
    features.
    """
    die_with_parent(parent_pid)
    limits = one_thread()
    limits.__enter__()
    _WORKER_THREADS.append(limits)  # keep it referenced: collecting it would restore the limits


def warm_up(targets: list[Target], augment: AugmentConfig) -> None:
    """Run every extractor (and the augmenter) once on a short clip in the parent.

    Lazy imports and first-use set-up (librosa's effects, used by augmentation, compile numba
    kernels) then happen once, before the pool forks: every worker inherits the result instead
    of paying it again.
    """
    clip = np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1
    for t in targets:
        ext = cached_extractor(t.name, t.conf)
        ext(clip, ext.sample_rate)
        if augment.copies:
            Augmenter(augment).copies("warm-up", clip, ext.sample_rate)


def run_jobs(jobs: list[ShardJob], workers: int, description: str) -> list[ShardResult]:
    """Run shard jobs in-process (``workers`` 1) or on a process pool; first error wins."""
    from sertool.console import progress

    if not jobs:
        return []
    if workers <= 1 or len(jobs) == 1:
        with one_thread():  # --jobs 1 means one core, as in the workers
            return [run_job(j) for j in progress(jobs, description)]
    # fork starts workers in milliseconds with everything imported (spawn/forkserver re-import
    # torch: seconds per run). Like DataLoader workers, each child first drops to one torch
    # thread, which is what makes torch safe to use after fork.
    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    results = []
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=init_worker,
                             initargs=(os.getpid(),)) as pool:
        futures: list[Future] = [pool.submit(run_job, j) for j in jobs]
        try:
            for fut in progress(as_completed(futures), description, total=len(futures)):
                results.append(fut.result())
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return results


