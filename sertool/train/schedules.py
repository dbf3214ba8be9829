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
from typing import Any, Callable

from sertool.errors import SertoolError

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


def lr_factor(conf: dict[str, Any], base_lr: float, steps_per_epoch: int,
              total_epochs: int | None = None) -> Callable[[int], float]:
    """Multiplier of the base learning rate after ``t`` updates (for ``LambdaLR``).

    Schedules (``optim.scheduler``):

    - ``{name: constant}``
    - ``{name: inverse_time, decay: d}``: Keras' ``decay``, ``lr / (1 + d · t)`` (sa_cnn_blstm.txt
      §5.1, selective_mtl.txt §4.2)
    - ``{name: stages, stages: [{epochs, to: lr}], anneal}``: see :func:`staged`
    - ``{name: cosine, warmup_epochs: w, min_lr: m}``: linear warm-up, then cosine to ``min_lr``
      at the end of training
    """
    conf = dict(conf)
    name = conf.pop("name", "constant")
    per_epoch = max(1, steps_per_epoch)
    try:
        if name == "constant" and not conf:
            return lambda t: 1.0
        if name == "inverse_time":
            decay = float(conf.pop("decay"))
            if conf:
                raise KeyError(next(iter(conf)))
            return lambda t: 1.0 / (1.0 + decay * t)
        if name == "stages":
            f = staged(base_lr, conf.pop("stages"), conf.pop("anneal", "exponential"))
            if conf:
                raise KeyError(next(iter(conf)))
            return lambda t: f(t / per_epoch) / base_lr
        if name == "cosine":
            warmup = float(conf.pop("warmup_epochs", 0.0))
            floor = float(conf.pop("min_lr", 0.0)) / base_lr
            if conf:
                raise KeyError(next(iter(conf)))
            total = float(total_epochs or 1)

            def cosine(t: int) -> float:
                p = t / per_epoch
                if p < warmup:
                    return (p + 1.0 / per_epoch) / warmup  # never exactly 0 on the first update
                frac = min(1.0, (p - warmup) / max(total - warmup, 1e-9))
                return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))

            return cosine
    except KeyError as e:
        raise SertoolError(f"optim.scheduler {name}: unexpected or missing setting {e}") from None
    raise SertoolError(f"optim.scheduler: unknown schedule {name!r} or settings {conf} "
                       "(known: constant, inverse_time, stages, cosine)")
