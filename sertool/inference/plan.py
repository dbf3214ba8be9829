"""Which parts of a recording the model reads, decided from its header (and, to split on silence, its energy).

A recording is answered as one or more **units**: the whole clip by default, or each segment
with ``segment=`` (sliding windows) or ``split_on_silence=True`` (energy-based). A unit longer
than the model's training length is never cut: it is covered by equal **windows** no longer
than that length (``ceil(duration / max_seconds)`` of them, so none is shorter than half of
it), each answered by the model; the unit's answer is their duration-weighted mean.

Every position is in frames at the file's own sample rate. Nothing here reads samples except
:func:`file_blocks`, which streams a file in blocks for :func:`frame_levels` (splitting on silence).

Example:
    >>> limits = Limits(min_seconds=0.05, max_seconds=1.0)
    >>> [len(u.windows) for u in plan_units(16000 * 5 // 2, 16000, limits)]       # 2.5 s: 3 windows
    [3]
    >>> [(u.start / 16000, u.stop / 16000) for u in plan_units(16000 * 5, 16000, limits, Segmenting(2.0, 1.0))]
    [(0.0, 2.0), (1.0, 3.0), (2.0, 4.0), (3.0, 5.0)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sertool.errors import SertoolError

#: Samples no louder than one 16-bit step (-90.3 dBFS) are digital silence.
SILENCE_PEAK = 2.0**-15


@dataclass(frozen=True)
class Limits:
    """The model's clip lengths: the shortest it answers, the longest window (None: any length)."""

    min_seconds: float
    max_seconds: float | None


@dataclass(frozen=True)
class Segmenting:
    """How a recording is divided: ``segment``/``hop`` seconds (sliding windows) or on silence."""

    segment: float | None = None
    hop: float | None = None
    split_on_silence: bool = False

    @property
    def active(self) -> bool:
        return self.segment is not None or self.split_on_silence

    def check(self, limits: Limits) -> None:
        if self.segment is not None and self.split_on_silence:
            raise SertoolError("give either --segment or --split-on-silence, not both")
        if self.hop is not None and self.segment is None:
            raise SertoolError("--hop needs --segment")
        if self.segment is not None:
            if not (math.isfinite(self.segment) and self.segment >= limits.min_seconds):
                raise SertoolError(f"--segment must be at least {limits.min_seconds:.3f} s (the model's shortest "
                                   f"input), got {self.segment}")
            if self.hop is not None and not (math.isfinite(self.hop) and self.hop > 0):
                raise SertoolError(f"--hop must be a positive number of seconds, got {self.hop}")


@dataclass
class Unit:
    """A part of a recording answered as one: ``[start, stop)`` frames, covered by ``windows``."""

    start: int
    stop: int
    windows: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class ClipPlan:
    """One input: where it is, what its header says, its units, and a known error or warning."""

    index: int
    path: str
    speaker: str | None = None
    id: str | None = None
    sample_rate: int = 0
    frames: int = 0
    units: list[Unit] = field(default_factory=list)
    segmented: bool = False
    warning: str | None = None
    error: str | None = None

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def windows(self) -> int:
        return sum(len(u.windows) for u in self.units)


def split_even(start: int, stop: int, max_frames: int | None) -> list[tuple[int, int]]:
    """``[start, stop)`` as the fewest equal windows of at most ``max_frames`` frames.

    Example:
        >>> split_even(0, 10, 4), split_even(0, 10, None), split_even(5, 8, 4)
        ([(0, 3), (3, 6), (6, 10)], [(0, 10)], [(5, 8)])
    """
    length = stop - start
    if max_frames is None or length <= max_frames:
        return [(start, stop)]
    n = -(-length // max_frames)
    edges = [start + (k * length) // n for k in range(n + 1)]
    return list(zip(edges[:-1], edges[1:]))


def max_window_frames(limits: Limits, sample_rate: int) -> int | None:
    """The longest window in frames at ``sample_rate`` (a hair of float error is not a frame less)."""
    return None if limits.max_seconds is None else max(1, int(math.floor(limits.max_seconds * sample_rate + 1e-6)))


def sliding_units(frames: int, sample_rate: int, segment: float, hop: float | None) -> list[tuple[int, int]]:
    """Windows of ``segment`` seconds every ``hop`` (default: ``segment``) over ``frames``.

    They start at 0, hop, 2·hop, … until one reaches the end; a last window shorter than
    ``segment`` is moved back to end at the end (so every window is ``segment`` long unless the
    recording is shorter).

    Example:
        >>> sliding_units(10, 1, 4.0, 3.0), sliding_units(3, 1, 4.0, None)
        ([(0, 4), (3, 7), (6, 10)], [(0, 3)])
    """
    seg = max(1, int(round(segment * sample_rate)))
    step = max(1, int(round((hop or segment) * sample_rate)))
    if frames <= seg:
        return [(0, frames)]
    out, start = [], 0
    while True:
        stop = start + seg
        if stop >= frames:
            out.append((frames - seg, frames))
            break
        out.append((start, stop))
        start += step
    return out


def plan_units(frames: int, sample_rate: int, limits: Limits, mode: Segmenting = Segmenting(),
               parts: list[tuple[int, int]] | None = None) -> list[Unit]:
    """The units of a recording of ``frames`` frames and their windows (``parts``: units found on silence)."""
    max_frames = max_window_frames(limits, sample_rate)
    if parts is None:
        parts = sliding_units(frames, sample_rate, mode.segment, mode.hop) if mode.segment else [(0, frames)]
    return [Unit(a, b, split_even(a, b, max_frames)) for a, b in parts]


def frame_levels(blocks, sample_rate: int, frame_seconds: float = 0.01) -> np.ndarray:
    """RMS level (dBFS) of each ``frame_seconds`` frame of a recording given as mono blocks.

    Blocks may have any length (a frame may straddle two of them); non-finite samples raise
    :class:`SertoolError` with their time.

    Example:
        >>> x = np.r_[np.zeros(800), 0.5 * np.ones(800)].astype(np.float32)
        >>> frame_levels([x[:500], x[500:]], 8000, 0.05).round(1).tolist()
        [-200.0, -200.0, -6.0, -6.0]
    """
    hop = max(1, int(round(frame_seconds * sample_rate)))
    levels: list[np.ndarray] = []
    carry = np.zeros(0, np.float32)
    pos = 0
    for block in blocks:
        if not np.isfinite(block).all():
            bad = pos + int(np.argmin(np.isfinite(block)))
            raise SertoolError(f"non-finite samples (NaN or Inf) at {bad / sample_rate:.2f} s")
        pos += block.size
        x = np.concatenate([carry, block]) if carry.size else block
        n = x.size // hop * hop
        if n:
            levels.append(np.mean(np.square(x[:n].reshape(-1, hop), dtype=np.float64), axis=1))
        carry = x[n:]
    if carry.size:
        levels.append(np.mean(np.square(carry, dtype=np.float64))[None])
    power = np.concatenate(levels) if levels else np.zeros(0)
    return 10.0 * np.log10(np.maximum(power, 1e-20))


def speech_parts(levels: np.ndarray, frames: int, sample_rate: int, limits: Limits, frame_seconds: float = 0.01,
                 min_pause: float = 0.3, min_speech: float = 0.25, pad: float = 0.1) -> list[tuple[int, int]]:
    """Where the speech is, from frame levels: ``[start, stop)`` frame ranges at ``sample_rate``.

    Frames of ``frame_seconds`` are speech when their level (dBFS) is above
    ``floor + 0.35 (loud - floor)``, ``floor`` and ``loud`` being the recording's 10th and 95th
    percentiles of the levels above digital silence; pauses shorter than ``min_pause`` are
    bridged, bursts shorter than ``min_speech`` (or the model's shortest input) dropped, and
    each part padded by ``pad`` seconds. A recording with less than 10 dB between its floor and
    its loud parts, or in which no part is found, is one part.

    Example:
        >>> levels = np.r_[np.full(100, -70.0), np.full(100, -20.0), np.full(100, -70.0), np.full(50, -25.0)]
        >>> speech_parts(levels, 3500, 1000, Limits(0.05, None))      # 1 kHz: a frame is 10 samples
        [(900, 2100), (2900, 3500)]
    """
    hop = max(1, int(round(frame_seconds * sample_rate)))
    audible = levels[levels > 20.0 * np.log10(SILENCE_PEAK)]
    if audible.size == 0:
        return [(0, frames)]
    floor, loud = np.percentile(audible, [10, 95])
    if loud - floor < 10.0:
        return [(0, frames)]
    bridged: list[list[int]] = []
    for a, b in _runs(levels > floor + 0.35 * (loud - floor)):
        if bridged and (a - bridged[-1][1]) * frame_seconds < min_pause:
            bridged[-1][1] = b
        else:
            bridged.append([a, b])
    shortest = max(min_speech, limits.min_seconds)
    pad_frames = int(round(pad * sample_rate))
    parts: list[tuple[int, int]] = []
    for a, b in bridged:
        if (b - a) * frame_seconds < shortest:
            continue
        start, stop = max(0, a * hop - pad_frames), min(frames, b * hop + pad_frames)
        if parts:
            start = max(start, parts[-1][1])
        parts.append((start, stop))
    return parts or [(0, frames)]


def file_blocks(path: str | Path, block_seconds: float = 30.0):
    """A file's samples as mono blocks of ``block_seconds`` (memory: one block), for :func:`frame_levels`."""
    from sertool.audio import open_audio, read_mono

    with open_audio(path) as f:
        block = max(1, int(block_seconds * f.samplerate))
        while True:
            x = read_mono(f, block)
            if x.size == 0:
                return
            yield x


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of each run of True.

    Example:
        >>> _runs(np.array([0, 1, 1, 0, 1], bool))
        [(1, 3), (4, 5)]
    """
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def libsndfile_reason(e: Exception) -> str:
    """libsndfile's reason without the ``Error opening 'PATH': `` it starts with (the path is said already).

    Example:
        >>> libsndfile_reason(RuntimeError("Error opening 'x.wav': Format not recognised."))
        'Format not recognised.'
    """
    text = str(e)
    return text.split("': ", 1)[1] if text.startswith("Error opening '") and "': " in text else text


def plan_clip(index: int, source, limits: Limits, mode: Segmenting = Segmenting()) -> ClipPlan:
    """A clip's plan from its header: units and windows, or the error that stops it (never raises).

    ``source`` is a :class:`~sertool.inference.sources.Source`. Errors: a directory, a missing or
    unreadable file, no samples, shorter than the model's shortest input (its minimum stated in
    seconds), non-finite samples found while splitting on silence. A truncated WAV gets a warning.
    """
    import soundfile as sf

    from sertool.audio import check_truncated

    plan = ClipPlan(index, source.path, source.speaker, source.id, segmented=mode.active)
    if source.error:
        plan.error = source.error
        return plan
    path = Path(source.path)
    if path.is_dir():
        plan.error = f"{path} is a directory, not an audio file"
        return plan
    if not path.is_file():
        plan.error = f"audio file not found: {path}"
        return plan
    try:
        if path.stat().st_size == 0:
            plan.error = f"empty file (0 bytes): {path}"
            return plan
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:
        plan.error = f"cannot read audio file {path}: {libsndfile_reason(e)}"
        return plan
    except OSError as e:
        plan.error = f"cannot read audio file {path}: {e.strerror or e}"
        return plan
    plan.sample_rate, plan.frames = int(info.samplerate), int(info.frames)
    if plan.frames <= 0:
        plan.error = f"audio file has no samples: {path}"
        return plan
    truncated = check_truncated(path)
    if truncated:
        plan.warning = f"truncated WAV: {truncated}; answered from the samples present"
    if plan.duration < limits.min_seconds:
        plan.error = (f"too short: {plan.duration:.3f} s, the model needs at least {limits.min_seconds:.3f} s "
                      "of audio")
        return plan
    parts = None
    if mode.split_on_silence:
        try:
            levels = frame_levels(file_blocks(path), plan.sample_rate)
            parts = speech_parts(levels, plan.frames, plan.sample_rate, limits)
        except SertoolError as e:
            plan.error = str(e)
            return plan
        except (RuntimeError, sf.LibsndfileError) as e:
            plan.error = f"cannot read audio file {path}: {libsndfile_reason(e)}"
            return plan
    plan.units = plan_units(plan.frames, plan.sample_rate, limits, mode, parts)
    return plan
