"""Loss weighting: combine per-task losses into the total that is back-propagated.

A weighting method is a module: ``total, weights = weighting(losses)`` returns the total and the
weights it used (logged every epoch) and never calls ``backward()`` itself. Tasks absent from
``losses`` (no labels in the batch) are skipped. The trainer calls three hooks: ``set_progress``
(epochs done, fractional) before each update, ``after_step`` after it, ``epoch_end`` with the
epoch's mean losses. Every method starts from the tasks' configured weights.

- ``fixed``: ``L = Σ w_k L_k`` (sa_cnn_blstm.txt eq. 10, selective_mtl.txt eq. 3, ssl_mtl.txt).
- ``schedule``: weights that move over training stages (SpeechEQ: α, β, η = 1, 0.1, 0.1, then β
  and η from 0.1 to 0.01; speecheq.txt §3.2); see :func:`sertool.schedules.staged`.
- ``uncertainty``: Kendall et al. 2018, ``L = Σ exp(−s_k) L_k + s_k`` with learned ``s_k = log σ_k²``.
- ``dwa``: dynamic weight averaging (Liu et al. 2019), from the ratio of the last two epochs' losses.
- ``gradnorm``: Chen et al. 2018; the one gradient-based method (``needs_shared_parameters``): it
  is also given the last shared layer's parameters, ``weighting(losses, shared)``, and sets the
  gradient of its own weights, which the optimiser then updates.

Example:
    >>> w = build_weighting("fixed", {"emotion": 1.0, "gender": 0.5}, {})
    >>> total, weights = w({"emotion": torch.tensor(1.2), "gender": torch.tensor(0.4)})
    >>> round(float(total), 4), weights
    (1.4, {'emotion': 1.0, 'gender': 0.5})
    >>> total, weights = w({"emotion": torch.tensor(1.2)})         # no gender label in this batch
    >>> round(float(total), 4), weights
    (1.2, {'emotion': 1.0})
    >>> u = build_weighting("uncertainty", {"emotion": 1.0, "gender": 0.5}, {})
    >>> torch.exp(-u.log_vars.detach())                  # learned s_k = log σ_k², starting at −log w_k
    tensor([1.0000, 0.5000])
    >>> total, weights = u({"emotion": torch.tensor(1.2), "gender": torch.tensor(0.4)})
    >>> round(total.item(), 4), weights                            # 1.2 + 0.5 · 0.4 + log 2
    (2.0931, {'emotion': 1.0, 'gender': 0.5})
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from sertool.errors import SertoolError
from sertool.registry import Registry
from sertool.schedules import staged

#: Loss weighting methods by name (``weighting: NAME`` in YAML).
WEIGHTINGS: Registry[type[Weighting]] = Registry("loss weighting")


class Weighting(nn.Module):
    """Base class: the configured weights, the task order, and no-op hooks."""

    needs_shared_parameters: ClassVar[bool] = False

    def __init__(self, weights: dict[str, float]):
        super().__init__()
        if not weights:
            raise SertoolError("loss weighting: no tasks")
        self.tasks = list(weights)
        self.index = {k: i for i, k in enumerate(self.tasks)}
        self.initial = {k: float(v) for k, v in weights.items()}

    def _check(self, losses: dict[str, torch.Tensor]) -> None:
        unknown = set(losses) - set(self.tasks)
        if unknown:
            raise SertoolError(f"loss weighting: no weight for task(s) {', '.join(sorted(unknown))}")

    def set_progress(self, epochs: float) -> None:
        """Called before each update with the epochs done so far (fractional)."""

    def after_step(self) -> None:
        """Called after each optimiser step."""

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        """Called at the end of each epoch with each task's mean training loss."""


@WEIGHTINGS.register("fixed")
class FixedWeighting(Weighting):
    """``L = Σ_k w_k · L_k`` with constant weights."""

    def forward(self, losses: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self._check(losses)
        total = sum(self.initial[k] * v for k, v in losses.items())
        return total, {k: self.initial[k] for k in losses}


@WEIGHTINGS.register("schedule")
class ScheduleWeighting(Weighting):
    """Weights moved over stages of training: ``stages: [{epochs, to: {task: weight}}]``."""

    def __init__(self, weights: dict[str, float], stages: list[dict[str, Any]], anneal: str = "exponential"):
        super().__init__(weights)
        for i, stage in enumerate(stages):
            if not isinstance(stage, dict) or set(stage) - {"epochs", "to"}:
                raise SertoolError(f"weighting stage {i + 1} must be {{epochs, to: {{task: weight}}}}, got {stage}")
            unknown = set(stage.get("to") or {}) - set(self.tasks)
            if unknown:
                raise SertoolError(f"weighting stage {i + 1}: unknown task(s) {', '.join(sorted(unknown))}")
        self.schedules = {
            k: staged(w, [{"epochs": s.get("epochs"), "to": (s.get("to") or {}).get(k)} for s in stages], anneal)
            for k, w in self.initial.items()
        }
        self.progress = 0.0

    def set_progress(self, epochs: float) -> None:
        self.progress = epochs

    def current(self) -> dict[str, float]:
        return {k: f(self.progress) for k, f in self.schedules.items()}

    def forward(self, losses: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self._check(losses)
        w = self.current()
        return sum(w[k] * v for k, v in losses.items()), {k: w[k] for k in losses}


@WEIGHTINGS.register("uncertainty")
class UncertaintyWeighting(Weighting):
    """Homoscedastic uncertainty weighting; ``s_k`` starts at ``−log w_k`` (0 for weight 1)."""

    def __init__(self, weights: dict[str, float]):
        super().__init__(weights)
        if any(w <= 0 for w in self.initial.values()):
            raise SertoolError("uncertainty weighting needs every task weight > 0")
        self.log_vars = nn.Parameter(torch.tensor([-math.log(self.initial[k]) for k in self.tasks]))

    def forward(self, losses: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self._check(losses)
        total = torch.zeros((), device=self.log_vars.device)
        weights = {}
        for k, loss in losses.items():
            s = self.log_vars[self.index[k]]
            total = total + torch.exp(-s) * loss + s
            weights[k] = float(torch.exp(-s.detach()))
        return total, weights


@WEIGHTINGS.register("dwa")
class DWAWeighting(Weighting):
    """``w_k(t) = w⁰_k · K · softmax_k(r_k(t−1) / T)``, ``r_k(t−1) = L_k(t−1) / L_k(t−2)``.

    ``w⁰`` (the configured weights) in the first two epochs, before there is a ratio.
    """

    def __init__(self, weights: dict[str, float], temperature: float = 2.0):
        super().__init__(weights)
        if temperature <= 0:
            raise SertoolError("dwa temperature must be > 0")
        self.temperature = float(temperature)
        k = len(self.tasks)
        self.register_buffer("history", torch.full((2, k), math.nan, dtype=torch.float64))  # epochs t−2, t−1
        self.register_buffer("weights", torch.tensor([self.initial[t] for t in self.tasks], dtype=torch.float64))

    def epoch_end(self, mean_losses: dict[str, float]) -> None:
        latest = torch.tensor([mean_losses.get(t, math.nan) for t in self.tasks], dtype=torch.float64)
        self.history.copy_(torch.stack([self.history[1], latest.to(self.history.device)]))
        prev, last = self.history
        ok = torch.isfinite(prev) & torch.isfinite(last) & (prev > 0)
        w = torch.tensor([self.initial[t] for t in self.tasks], dtype=torch.float64, device=self.history.device)
        if ok.any():
            ratio = last[ok] / prev[ok]
            w[ok] = w[ok] * int(ok.sum()) * torch.softmax(ratio / self.temperature, dim=0)
        self.weights.copy_(w)

    def forward(self, losses: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        self._check(losses)
        w = {k: float(self.weights[self.index[k]]) for k in losses}
        return sum(w[k] * v for k, v in losses.items()), w


@WEIGHTINGS.register("gradnorm")
class GradNormWeighting(Weighting):
    """GradNorm with asymmetry ``alpha``: learned weights whose weighted gradient norms at the
    shared layer track ``mean(G) · r_k^α``, ``r_k`` the task's relative inverse training rate.

    The weights are renormalised after every step so they keep summing to the configured total.
    """

    needs_shared_parameters = True

    def __init__(self, weights: dict[str, float], alpha: float = 1.5):
        super().__init__(weights)
        if any(w <= 0 for w in self.initial.values()):
            raise SertoolError("gradnorm needs every task weight > 0")
        self.alpha = float(alpha)
        self.w = nn.Parameter(torch.tensor([self.initial[k] for k in self.tasks]))
        self.register_buffer("initial_losses", torch.full((len(self.tasks),), math.nan))
        self.total_weight = sum(self.initial.values())

    def forward(self, losses: dict[str, torch.Tensor],
                shared: list[nn.Parameter] | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        self._check(losses)
        idx = [self.index[k] for k in losses]
        w = self.w.detach().clone()  # the optimiser updates self.w in place before the next backward
        total = sum(w[i] * loss for i, loss in zip(idx, losses.values()))
        if shared is not None and torch.is_grad_enabled() and losses:
            self._set_weight_gradient(losses, idx, shared)
        return total, {k: float(w[i]) for k, i in zip(losses, idx)}

    def _set_weight_gradient(self, losses: dict[str, torch.Tensor], idx: list[int],
                             shared: list[nn.Parameter]) -> None:
        current = torch.stack([loss.detach().float() for loss in losses.values()])  # (M,)
        index = torch.tensor(idx, device=self.w.device)
        first = torch.isnan(self.initial_losses[index])
        self.initial_losses[index[first]] = current[first]  # L_k(0): the first loss seen for each task
        norms = []
        for loss in losses.values():
            grads = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
            norms.append(torch.sqrt(sum((g.float() ** 2).sum() for g in grads if g is not None)
                                    if any(g is not None for g in grads) else torch.zeros((), device=self.w.device)))
        g_norm = self.w[index] * torch.stack(norms).detach()  # (M,) G_k = ‖∇_W w_k L_k‖
        rate = current / self.initial_losses[index].clamp(min=1e-12)
        target = (g_norm.mean() * (rate / rate.mean()) ** self.alpha).detach()
        grad = torch.autograd.grad((g_norm - target).abs().sum(), self.w)[0]
        self.w.grad = grad if self.w.grad is None else self.w.grad + grad

    @torch.no_grad()
    def after_step(self) -> None:
        self.w.clamp_(min=1e-6)
        self.w.mul_(self.total_weight / self.w.sum())


def build_weighting(name: str, weights: dict[str, float], conf: dict[str, Any]) -> Weighting:
    """Weighting method ``name`` over tasks with initial ``weights``."""
    return WEIGHTINGS.build(name, conf, weights=weights)
