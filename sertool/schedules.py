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


@SCHEDULES.register("constant")
def constant(base_lr: float, steps_per_epoch: int, total_epochs: float) -> Factor:
    return lambda t: 1.0


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


@SCHEDULES.register("cosine")
def cosine(base_lr: float, steps_per_epoch: int, total_epochs: float, warmup_epochs: float = 0.0,
           min_lr: float = 0.0) -> Factor:
    """Linear warm-up over ``warmup_epochs``, then a cosine down to ``min_lr`` at the end of training."""
    warmup, floor = float(warmup_epochs), float(min_lr) / base_lr

    def at(t: int) -> float:
        p = t / steps_per_epoch
        if p < warmup:
            return (p + 1.0 / steps_per_epoch) / warmup  # never exactly 0 on the first update
        frac = min(1.0, (p - warmup) / max(total_epochs - warmup, 1e-9))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))

    return at


def lr_factor(conf: dict[str, Any], base_lr: float, steps_per_epoch: int,
              total_epochs: int | None = None) -> Factor:
    """Multiplier of the base learning rate after ``t`` updates (for ``LambdaLR``).

    ``conf`` is ``optim.scheduler``: ``{name: NAME, **settings}`` with a name of :data:`SCHEDULES`
    (``constant``, ``inverse_time {decay}``, ``stages {stages, anneal}``, ``cosine {warmup_epochs,
    min_lr}``).
    """
    return SCHEDULES.build_spec(conf, base_lr, max(1, steps_per_epoch), float(total_epochs or 1), default="constant")
