"""Learning-rate schedules and staged values, in epochs."""

import math

import pytest

from sertool.errors import SertoolError
from sertool.schedules import lr_factor, staged


def test_speecheq_fine_tune_stage_decays_the_learning_rate_1e4_to_1e6():
    f = lr_factor({"name": "stages", "stages": [{"epochs": 3}, {"epochs": 2, "to": 1e-6}]}, 1e-4, steps_per_epoch=10)
    lrs = [1e-4 * f(t) for t in (0, 29, 30, 40, 50, 80)]
    assert lrs == pytest.approx([1e-4, 1e-4, 1e-4, 1e-5, 1e-6, 1e-6])


def test_inverse_time_and_cosine():
    assert lr_factor({"name": "inverse_time", "decay": 1e-5}, 1e-4, 5)(1000) == pytest.approx(1 / 1.01)
    cos = lr_factor({"name": "cosine", "warmup_epochs": 1, "min_lr": 0.0}, 1.0, steps_per_epoch=4, total_epochs=3)
    assert cos(0) == pytest.approx(0.25) and cos(4) == pytest.approx(1.0)
    assert cos(8) == pytest.approx(0.5) and cos(12) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor({"name": "constant"}, 1e-3, 1)(10**6) == 1.0


def test_staged_values_anneal_and_hold():
    f = staged(1.0, [{"epochs": 2, "to": 3.0}], anneal="linear")
    assert [f(p) for p in (0, 1, 2, 10)] == [1.0, 2.0, 3.0, 3.0]
    g = staged(0.1, [{"epochs": 1, "to": 0.001}])
    assert g(0.5) == pytest.approx(0.01)
    assert math.isclose(staged(0.0, [{"epochs": 1, "to": 1.0}])(0.5), 0.5)  # geometric needs > 0: linear


@pytest.mark.parametrize("conf", [{"name": "warp"}, {"name": "inverse_time"}, {"name": "stages", "stages": [{}]},
                                  {"name": "inverse_time", "decay": 1, "gamma": 2}])
def test_bad_schedules_are_one_line_errors(conf):
    with pytest.raises(SertoolError):
        lr_factor(conf, 1e-4, 10)
