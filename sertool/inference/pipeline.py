"""Batched inference over many clips: decoding and features in worker processes, the model in this one.

The clips' windows (:mod:`sertool.inference.plan`) are packed into **items**, each one batch of
the model: clips answered in one window are sorted by length within chunks of consecutive
inputs (so a batch pads little, and answers can still be written in input order with a bounded
buffer), and the windows of a long or segmented recording are packed in order, at most
``batch_size`` windows spanning at most a minute of it. A :class:`torch.utils.data.DataLoader`
with ``workers`` processes turns items into padded input tensors (:func:`load_item`: seek, read
the span, down-mix, resample once per rate, features per window) while the model runs on the
previous batch; a batch the model fails on is retried clip by clip, so one bad clip costs only
its own answer. Every error becomes that clip's error record, never an exception.

Example::

    plans = [plan_clip(i, s, predictor.limits) for i, s in enumerate(expand_inputs(["clips/"]))]
    for plan, records in run_plans(predictor, plans, batch_size=16, workers=2):
        print(records[-1])
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from sertool.errors import SertoolError
from sertool.inference.plan import SILENCE_PEAK, ClipPlan, libsndfile_reason
from sertool.inference.records import clip_records, is_finite

#: Consecutive clips sorted by length together (in batches): the reorder buffer's bound.
CHUNK_BATCHES = 32
#: The most audio one item reads from a long recording, in seconds (or one window, if longer).
MAX_SPAN_SECONDS = 60.0
#: Context read on each side of a span whose windows are resampled, in seconds.
RESAMPLE_MARGIN = 0.05


@dataclass(frozen=True)
class Job:
    """One window of one clip: the model reads ``[start, stop)`` frames of unit ``unit``."""

    clip: int
    unit: int
    window: int
    start: int
    stop: int


@dataclass(frozen=True)
class ClipRef:
    """What a worker needs to read a clip."""

    path: str
    sample_rate: int
    frames: int
    speaker: str | None


def cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_workers() -> int:
    """Worker processes when not told: one core for the model, the rest (at most 4) for decoding."""
    return max(1, min(4, cores() - 1))


class WindowFeatures:
    """The model inputs of windows of a mono waveform, as each input spec computes them from audio."""

    def __init__(self, specs: dict[str, Any]):
        self.specs = dict(specs)
        self.rates = {name: spec.audio_rate for name, spec in self.specs.items()}

    def compute(self, x: np.ndarray, sample_rate: int, offset: int, jobs: list[Job], speaker: str | None,
                whole: bool = False) -> tuple[list[Job], list[dict[str, np.ndarray]], list[Job]]:
        """Inputs of each job's window of ``x`` (which starts at frame ``offset``); silent jobs apart.

        ``whole``: ``x`` is the clip and ``jobs`` its one window covering it (the resampled clip is
        used as it is, as :func:`sertool.audio.read_audio` would give it).
        """
        from sertool.audio import resample

        by_rate = {r: resample(x, sample_rate, r) for r in set(self.rates.values())}
        done, inputs, silent = [], [], []
        for job in jobs:
            a, b = job.start - offset, job.stop - offset
            if b <= a or float(np.max(np.abs(x[a:b]))) <= SILENCE_PEAK:
                silent.append(job)
                continue
            item = {}
            for name, spec in self.specs.items():
                rate = self.rates[name]
                wave = by_rate[rate]
                if not whole:
                    wave = wave[int(round(a * rate / sample_rate)): int(round(b * rate / sample_rate))]
                item[name] = spec.from_audio(wave, rate, speaker)
            done.append(job)
            inputs.append(item)
        return done, inputs, silent


def collate(inputs: list[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Pad items into a batch: each input ``(N, T, D)`` or ``(N, S)`` and its ``<name>_lengths``."""
    out: dict[str, torch.Tensor] = {}
    for name in inputs[0]:
        xs = [torch.from_numpy(it[name]) for it in inputs]
        out[name] = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
        out[f"{name}_lengths"] = torch.tensor([x.shape[0] for x in xs], dtype=torch.long)
    return out


def _read_span(ref: ClipRef, lo: int, hi: int) -> np.ndarray:
    from sertool.audio import open_audio, read_mono

    with open_audio(ref.path) as f:
        if lo:
            f.seek(lo)
        x = read_mono(f, hi - lo)
    if x.size < hi - lo:
        raise SertoolError(f"the file ends at {(lo + x.size) / ref.sample_rate:.2f} s, before the "
                           f"{ref.frames / ref.sample_rate:.2f} s its header gives (corrupt or cut short)")
    if not np.isfinite(x).all():
        bad = lo + int(np.argmin(np.isfinite(x)))
        raise SertoolError(f"non-finite samples (NaN or Inf) at {bad / ref.sample_rate:.2f} s")
    return x


def load_item(clips: list[ClipRef], features: WindowFeatures, jobs: list[Job]) -> dict[str, Any]:
    """One batch: read each clip's span once, compute every window's inputs, pad them (runs in a worker).

    Returns ``jobs`` (the windows answered, in batch order), ``inputs`` (None when none is),
    ``silent`` (windows of digital silence) and ``failed`` (``(clip, message, windows)``).
    """
    import soundfile as sf

    done: list[Job] = []
    arrays: list[dict[str, np.ndarray]] = []
    silent: list[Job] = []
    failed: list[tuple[int, str, int]] = []
    for clip, group in itertools.groupby(jobs, key=lambda j: j.clip):
        js = list(group)
        ref = clips[clip]
        try:
            needs_resampling = any(r != ref.sample_rate for r in features.rates.values())
            margin = int(RESAMPLE_MARGIN * ref.sample_rate) if needs_resampling else 0
            lo = max(0, min(j.start for j in js) - margin)
            hi = min(ref.frames, max(j.stop for j in js) + margin)
            x = _read_span(ref, lo, hi)
            whole = len(js) == 1 and (js[0].start, js[0].stop) == (0, ref.frames)
            d, a, s = features.compute(x, ref.sample_rate, lo, js, ref.speaker, whole=whole)
            done.extend(d)
            arrays.extend(a)
            silent.extend(s)
        except SertoolError as e:
            failed.append((clip, str(e), len(js)))
        except (RuntimeError, sf.LibsndfileError) as e:
            failed.append((clip, f"cannot read audio file {ref.path}: {libsndfile_reason(e)}", len(js)))
        except Exception as e:  # never lose the other clips of the batch for one
            failed.append((clip, f"{type(e).__name__}: {e}", len(js)))
    return {"jobs": done, "inputs": collate(arrays) if arrays else None, "silent": silent, "failed": failed}


class ItemDataset(torch.utils.data.Dataset):
    """Items (lists of :class:`Job`) as batches, for a DataLoader (``batch_size=None``)."""

    def __init__(self, clips: list[ClipRef], features: WindowFeatures, items: list[list[Job]]):
        self.clips, self.features, self.items = clips, features, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> dict[str, Any]:
        return load_item(self.clips, self.features, self.items[k])


def make_items(plans: list[ClipPlan], batch_size: int) -> list[list[Job]]:
    """Pack every window to answer into batches (see the module docstring)."""
    items: list[list[Job]] = []
    chunk = max(1, batch_size * CHUNK_BATCHES)
    for c in range(0, len(plans), chunk):
        group = [p for p in plans[c: c + chunk] if not p.error]
        singles = sorted((p for p in group if not p.segmented and p.windows == 1), key=lambda p: p.duration)
        for i in range(0, len(singles), batch_size):
            items.append([Job(p.index, 0, 0, *p.units[0].windows[0]) for p in singles[i: i + batch_size]])
        for p in group:
            if not p.segmented and p.windows == 1:
                continue
            jobs = sorted((Job(p.index, u, w, a, b) for u, unit in enumerate(p.units)
                           for w, (a, b) in enumerate(unit.windows)), key=lambda j: (j.start, j.stop))
            span = int(MAX_SPAN_SECONDS * p.sample_rate)
            item: list[Job] = []
            for job in jobs:
                if item and (len(item) >= batch_size or job.stop - item[0].start > span):
                    items.append(item)
                    item = []
                item.append(job)
            if item:
                items.append(item)
    return items


def _blas_threads(n: int) -> Any:
    """Limit BLAS/OpenMP to ``n`` threads (threadpoolctl, installed with librosa); the limiter, or None."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(limits=n)


def _worker_init(_worker_id: int) -> None:
    """One torch and one BLAS thread per worker: each worker is one core (more threads oversubscribe them)."""
    torch.set_num_threads(1)
    _worker_init.limits = _blas_threads(1)  # type: ignore[attr-defined]  (kept referenced)


def loader(dataset: ItemDataset, workers: int, pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """The DataLoader over items: ``workers`` forked processes (0: in this process), in order."""
    kwargs: dict[str, Any] = {}
    if workers > 0:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        kwargs = {"worker_init_fn": _worker_init, "prefetch_factor": 4,
                  "multiprocessing_context": multiprocessing.get_context(method)}
    return torch.utils.data.DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers,
                                       pin_memory=pin_memory, **kwargs)


@dataclass
class _State:
    plan: ClipPlan
    remaining: int
    answers: dict[tuple[int, int], dict[str, Any]]
    error: str | None = None


def run_plans(predictor: Any, plans: list[ClipPlan], batch_size: int = 16, workers: int | None = None,
              threads: int | None = None) -> Iterator[tuple[ClipPlan, list[dict[str, Any]]]]:
    """Each clip's plan and records, in input order, as soon as it and every clip before it is done.

    ``predictor`` is a :class:`~sertool.inference.Predictor`; ``workers`` None picks
    :func:`default_workers` (none for a handful of batches, where starting them costs more).
    ``threads`` is torch's thread count for the model while this runs (None: the cores the
    workers leave, when there are workers; torch's setting otherwise); it is restored after.
    """
    if batch_size < 1:
        raise SertoolError(f"--batch-size must be at least 1, got {batch_size}")
    items = make_items(plans, batch_size)
    if workers is None:
        workers = default_workers() if len(items) >= 4 else 0
    workers = max(0, min(workers, len(items)))
    if threads is None and workers > 0:
        threads = max(1, cores() - workers)
    before = torch.get_num_threads()
    limits = None
    if threads is not None:
        torch.set_num_threads(threads)
        limits = _blas_threads(threads)  # numpy's BLAS too: the log-mels made here when there are no workers
    try:
        yield from _run(predictor, plans, items, batch_size, workers)
    finally:
        torch.set_num_threads(before)
        if limits is not None:
            limits.restore_original_limits()


def _run(predictor: Any, plans: list[ClipPlan], items: list[list[Job]], batch_size: int,
         workers: int) -> Iterator[tuple[ClipPlan, list[dict[str, Any]]]]:
    clips = [ClipRef(p.path, p.sample_rate, p.frames, p.speaker) for p in plans]
    states = {p.index: _State(p, 0 if p.error else p.windows, {}) for p in plans}
    finished: dict[int, list[dict[str, Any]]] = {}
    order = iter(plans)
    upcoming = next(order, None)

    def settle(index: int) -> None:
        st = states[index]
        if st.remaining <= 0 and index not in finished:
            finished[index] = clip_records(st.plan, st.answers, st.error)
            del states[index]

    for p in plans:
        settle(p.index)
    data = loader(ItemDataset(clips, WindowFeatures(predictor.specs), items), workers,
                  pin_memory=predictor.device.type == "cuda")
    batches = iter(data)
    while upcoming is not None:
        while upcoming is not None and upcoming.index in finished:
            yield upcoming, finished.pop(upcoming.index)
            upcoming = next(order, None)
        if upcoming is None:
            break
        batch = next(batches, None)
        if batch is None:  # every item is loaded: a clip still open was never planned into one (a bug)
            raise RuntimeError(f"no answer for clip {upcoming.index} ({upcoming.path})")
        touched: set[int] = set()
        for clip, message, count in batch["failed"]:
            st = states[clip]
            st.error = st.error or message
            st.remaining -= count
            touched.add(clip)
        for job in batch["silent"]:
            states[job.clip].remaining -= 1
            touched.add(job.clip)
        if batch["inputs"] is not None:
            for job, answer in zip(batch["jobs"], predictor.answer_batch(batch["inputs"])):
                st = states[job.clip]
                st.remaining -= 1
                touched.add(job.clip)
                if isinstance(answer, Exception):
                    st.error = st.error or f"the model failed on this clip: {type(answer).__name__}: {answer}"
                elif not is_finite(answer):
                    st.error = st.error or "the model's answer is not finite (NaN or Inf)"
                else:
                    st.answers[(job.unit, job.window)] = answer
        for clip in touched:
            settle(clip)
