"""Values that change over training: learning-rate schedules and staged loss weights.

Progress is measured in epochs, fractional within an epoch (``epoch + step / steps_per_epoch``),
so a schedule is the same whatever the batch size. :func:`staged` is the one piecewise schedule
both use: training runs through stages of a given number of epochs; in each stage a value moves
from where the previous stage left it to the stage's ``to`` value (geometrically by default,
linearly with ``anneal: linear``), and stays there afterwards. SpeechEQ (speecheq.txt §3.2)::

    optim:     {lr: 1.0e-4, scheduler: {name: stages, stages: [{epochs: 20}, {epochs: 10, to: 1.0e-6}]}}
    weighting: {name: schedule, stages: [{epochs: 20}, {epochs: 10, to: {phones: 0.01, gender: 0.01}}]}

Example:
    >>> f = staged(0.1, [{"epochs": 2}, {"epochs": 2, "to": 0.001}])
    >>> [round(f(p), 6) for p in (0, 2, 3, 4, 9)]
    [0.1, 0.1, 0.01, 0.001, 0.001]
    >>> lr_factor({"name": "inverse_time", "decay": 1e-6}, base_lr=1e-4, steps_per_epoch=10)(1000)
    0.9990009990009991
    >>> f = lr_factor({"name": "linear", "warmup_epochs": 1}, base_lr=1e-5, steps_per_epoch=4, total_epochs=5)
    >>> [round(f(t), 4) for t in (0, 3, 4, 12, 20)]          # warm-up over epoch 1, then down to 0
    [0.25, 1.0, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sertool.errors import SertoolError
from sertool.registry import Registry

ANNEALS = ("exponential", "linear")


def _interpolate(start: float, end: float, frac: float, anneal: str) -> float:
    if anneal == "exponential" and start > 0 and end > 0:
        return start * (end / start) ** frac
    return start + (end - start) * frac


def staged(start: float, stages: list[dict[str, Any]], anneal: str = "exponential") -> Callable[[float], float]:
    """A value of progress (epochs): ``start``, then through ``stages`` ``[{epochs, to}]`` in turn."""
    if anneal not in ANNEALS:
        raise SertoolError(f"schedule anneal must be one of {', '.join(ANNEALS)}, got {anneal!r}")
    spans: list[tuple[float, float, float, float]] = []  # (begin epoch, length, start value, end value)
    begin, value = 0.0, float(start)
    for i, stage in enumerate(stages):
        unknown = set(stage) - {"epochs", "to"}
        if unknown or "epochs" not in stage or float(stage["epochs"]) <= 0:
            raise SertoolError(f"schedule stage {i + 1} must be {{epochs: > 0, to: value}}, got {stage}")
        end = value if stage.get("to") is None else float(stage["to"])
        spans.append((begin, float(stage["epochs"]), value, end))
        begin, value = begin + float(stage["epochs"]), end

    def at(progress: float) -> float:
        for b, length, v0, v1 in spans:
            if progress < b + length:
                return _interpolate(v0, v1, max(0.0, progress - b) / length, anneal)
        return value

    return at


Factor = Callable[[int], float]

#: Learning-rate schedules by name (``optim.scheduler: {name: NAME, ...}`` in YAML). Each is a
#: function ``(base_lr, steps_per_epoch, total_epochs, **settings)`` returning the multiplier
#: of the base learning rate after ``t`` updates.
SCHEDULES: Registry[Callable[..., Factor]] = Registry("learning-rate schedule")


def _warmup(p: float, warmup: float, steps_per_epoch: int) -> float:
    """The factor during a linear warm-up over ``warmup`` epochs, never exactly 0 on the first update."""
    return min(1.0, (p + 1.0 / steps_per_epoch) / warmup)


@SCHEDULES.register("constant")
def constant(base_lr: float, steps_per_epoch: int, total_epochs: float, warmup_epochs: float = 0.0) -> Factor:
    """The base rate, after an optional linear warm-up over ``warmup_epochs`` (HF's constant-with-warm-up)."""
    warmup = float(warmup_epochs)
    if warmup <= 0:
        return lambda t: 1.0
    return lambda t: _warmup(t / steps_per_epoch, warmup, steps_per_epoch) if t / steps_per_epoch < warmup else 1.0


@SCHEDULES.register("inverse_time")
def inverse_time(base_lr: float, steps_per_epoch: int, total_epochs: float, decay: float) -> Factor:
    """Keras' ``decay``: ``lr / (1 + d · t)`` (sa_cnn_blstm.txt §5.1, selective_mtl.txt §4.2)."""
    decay = float(decay)
    return lambda t: 1.0 / (1.0 + decay * t)


@SCHEDULES.register("stages")
def stages(base_lr: float, steps_per_epoch: int, total_epochs: float, stages: list[dict[str, Any]],
           anneal: str = "exponential") -> Factor:
    """Through ``stages`` ``[{epochs, to: lr}]`` in turn (see :func:`staged`; speecheq.txt §3.2)."""
    f = staged(base_lr, stages, anneal)
    return lambda t: f(t / steps_per_epoch) / base_lr


def _warm_then_decay(steps_per_epoch: int, total_epochs: float, warmup: float, floor: float,
                     shape: Callable[[float], float]) -> Factor:
    """Linear warm-up over ``warmup`` epochs, then ``floor + (1 − floor) · shape(progress)``, with
    ``shape`` going from 1 to 0 over the rest of training."""

    def at(t: int) -> float:
        p = t / steps_per_epoch
        if p < warmup:
            return _warmup(p, warmup, steps_per_epoch)
        return floor + (1 - floor) * shape(min(1.0, (p - warmup) / max(total_epochs - warmup, 1e-9)))

    return at


@SCHEDULES.register("cosine")
def cosine(base_lr: float, steps_per_epoch: int, total_epochs: float, warmup_epochs: float = 0.0,
           min_lr: float = 0.0) -> Factor:
    """Linear warm-up over ``warmup_epochs``, then a cosine down to ``min_lr`` at the end of training."""
    shape = lambda frac: 0.5 * (1 + math.cos(math.pi * frac))  # noqa: E731
    return _warm_then_decay(steps_per_epoch, total_epochs, float(warmup_epochs), float(min_lr) / base_lr, shape)


@SCHEDULES.register("linear")
def linear(base_lr: float, steps_per_epoch: int, total_epochs: float, warmup_epochs: float = 0.0,
           min_lr: float = 0.0) -> Factor:
    """Linear warm-up over ``warmup_epochs``, then linearly down to ``min_lr`` at the end of training
    (Hugging Face's ``get_linear_schedule_with_warmup``, the default of its fine-tuning scripts)."""
    return _warm_then_decay(steps_per_epoch, total_epochs, float(warmup_epochs), float(min_lr) / base_lr,
                            lambda frac: 1.0 - frac)


@SCHEDULES.register("tri_stage")
def tri_stage(base_lr: float, steps_per_epoch: int, total_epochs: float,
              phase_ratio: tuple[float, float, float] = (0.1, 0.4, 0.5), init_lr_scale: float = 0.01,
              final_lr_scale: float = 0.05) -> Factor:
    """fairseq's wav2vec 2.0 fine-tuning schedule: over the fractions ``phase_ratio`` of training, a
    linear warm-up from ``init_lr_scale`` × lr, a hold at lr, an exponential decay to ``final_lr_scale`` × lr."""
    ratios = [float(r) for r in phase_ratio]
    if len(ratios) != 3 or any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise SertoolError(f"tri_stage phase_ratio must be three fractions ≥ 0, got {phase_ratio}")
    warm, hold, decay = (r * total_epochs for r in ratios)
    init, final = float(init_lr_scale), float(final_lr_scale)

    def at(t: int) -> float:
        p = t / steps_per_epoch
        if p < warm:
            return init + (1.0 - init) * p / warm
        if p < warm + hold:
            return 1.0
        if p < warm + hold + decay:
            return final ** ((p - warm - hold) / decay)
        return final

    return at


def lr_factor(conf: dict[str, Any], base_lr: float, steps_per_epoch: int,
              total_epochs: int | None = None) -> Factor:
    """Multiplier of the base learning rate after ``t`` updates (for ``LambdaLR``).

    ``conf`` is ``optim.scheduler``: ``{name: NAME, **settings}`` with a name of :data:`SCHEDULES`
    (``constant {warmup_epochs}``, ``inverse_time {decay}``, ``stages {stages, anneal}``, ``cosine
    {warmup_epochs, min_lr}``, ``linear {warmup_epochs, min_lr}``, ``tri_stage {phase_ratio,
    init_lr_scale, final_lr_scale}``). A ``min_lr`` is of the base rate ``optim.lr``; every
    parameter group (``optim.encoder_lr``) follows the same factor.
    """
    return SCHEDULES.build_spec(conf, base_lr, max(1, steps_per_epoch), float(total_epochs or 1), default="constant")
