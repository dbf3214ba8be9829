"""Loss weighting methods: their formulas, their state, and the weights they report."""

import math

import pytest
import torch

from sertool.errors import SertoolError
from sertool.tasks import build_weighting

SPEECHEQ = {"emotion": 1.0, "intensity": 1.0, "phones": 0.1, "gender": 0.1}


def losses(**kw):
    return {k: torch.tensor(v) for k, v in kw.items()}


def test_schedule_follows_speecheq_stages():
    w = build_weighting("schedule", SPEECHEQ, {
        "stages": [{"epochs": 10}, {"epochs": 10, "to": {"phones": 0.01, "gender": 0.01}}]})
    for progress, expected in ((0, 0.1), (9.9, 0.1), (15, 0.1 * 0.1 ** 0.5), (20, 0.01), (30, 0.01)):
        w.set_progress(progress)
        total, weights = w(losses(emotion=1.0, phones=2.0))
        assert weights["phones"] == pytest.approx(expected) and weights["emotion"] == 1.0
        assert total.item() == pytest.approx(1.0 + 2.0 * expected)
    assert "gender" not in weights  # absent from the batch: skipped, not weighted
    lin = build_weighting("schedule", SPEECHEQ, {"stages": [{"epochs": 2, "to": {"gender": 0.05}}], "anneal": "linear"})
    lin.set_progress(1.0)
    assert lin(losses(gender=1.0))[1]["gender"] == pytest.approx(0.075)


def test_schedule_refuses_unknown_tasks_and_keys():
    with pytest.raises(SertoolError, match="unknown task"):
        build_weighting("schedule", SPEECHEQ, {"stages": [{"epochs": 1, "to": {"speaker": 0.1}}]})
    with pytest.raises(SertoolError, match="stage 1"):
        build_weighting("schedule", SPEECHEQ, {"stages": [{"epochs": 1, "lr": 0.1}]})


def test_uncertainty_weighting_formula_and_gradient():
    w = build_weighting("uncertainty", {"emotion": 1.0, "gender": 0.5}, {})
    assert w.log_vars.tolist() == pytest.approx([0.0, math.log(2)])
    total, weights = w(losses(emotion=2.0, gender=4.0))
    assert weights == pytest.approx({"emotion": 1.0, "gender": 0.5})
    assert total.item() == pytest.approx(2.0 + 0.5 * 4.0 + math.log(2))
    total.backward()
    # d/ds (exp(-s) L + s) = 1 - exp(-s) L
    assert w.log_vars.grad.tolist() == pytest.approx([1 - 2.0, 1 - 0.5 * 4.0])


def test_dwa_weights_from_the_last_two_epochs():
    w = build_weighting("dwa", {"a": 1.0, "b": 1.0}, {"temperature": 2.0})
    assert w(losses(a=1.0, b=1.0))[1] == {"a": 1.0, "b": 1.0}
    w.epoch_end({"a": 2.0, "b": 1.0})
    assert w(losses(a=1.0, b=1.0))[1] == {"a": 1.0, "b": 1.0}  # one epoch of history: still the initial weights
    w.epoch_end({"a": 1.0, "b": 1.0})  # a fell by half, b stayed
    ra, rb = 0.5, 1.0
    expected_a = 2 * math.exp(ra / 2) / (math.exp(ra / 2) + math.exp(rb / 2))
    weights = w(losses(a=1.0, b=1.0))[1]
    assert weights["a"] == pytest.approx(expected_a) and weights["a"] + weights["b"] == pytest.approx(2.0)
    again = build_weighting("dwa", {"a": 1.0, "b": 1.0}, {})
    again.load_state_dict(w.state_dict())
    assert again(losses(a=1.0, b=1.0))[1] == weights


def test_gradnorm_moves_weight_towards_the_task_with_the_smaller_gradient():
    torch.manual_seed(0)
    shared = torch.nn.Linear(3, 3)
    x = torch.randn(8, 3)
    h = shared(x)
    task_losses = {"big": 10.0 * h[:, 0].pow(2).mean(), "small": 0.1 * h[:, 1].pow(2).mean()}
    w = build_weighting("gradnorm", {"big": 1.0, "small": 1.0}, {"alpha": 1.5})
    total, weights = w(task_losses, shared=list(shared.parameters()))
    assert weights == {"big": 1.0, "small": 1.0}
    assert total.item() == pytest.approx(sum(v.item() for v in task_losses.values()))
    assert w.w.grad[0] > 0 > w.w.grad[1]  # descending moves weight from "big" to "small"
    assert shared.weight.grad is None  # the model's gradients are the trainer's business
    with torch.no_grad():
        w.w -= 0.1 * w.w.grad
    w.after_step()
    assert w.w.sum().item() == pytest.approx(2.0) and w.w[0] < w.w[1]
    total.backward()  # the total does not depend on the weights: their gradient stays GradNorm's
    assert shared.weight.grad is not None


def test_unknown_method_and_unknown_task_are_refused():
    with pytest.raises(SertoolError, match="unknown loss weighting"):
        build_weighting("magic", {"a": 1.0}, {})
    with pytest.raises(SertoolError, match="no weight for task"):
        build_weighting("fixed", {"a": 1.0}, {})(losses(b=1.0))
