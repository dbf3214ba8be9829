"""WA, UA and confusion against hand-computed values; fold summaries."""

import pytest

from sertool.evaluation.metrics import classification_scores
from sertool.evaluation.report import summarise_folds


def test_scores_by_hand():
    s = classification_scores([0, 0, 0, 1, 2, 2], [0, 0, 1, 1, 2, 0], ["a", "b", "c"])
    assert s["wa"] == pytest.approx(4 / 6)
    assert s["ua"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert s["confusion"] == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert s["per_class"] == pytest.approx({"a": 2 / 3, "b": 1.0, "c": 0.5})


def test_absent_classes_do_not_count_in_ua():
    s = classification_scores([0, 0], [0, 1], ["a", "b"])
    assert s["ua"] == 0.5 and "b" not in s["per_class"]


def test_summary_mean_and_std():
    summary = summarise_folds({"1": {"wa": 0.6, "ua": 0.5, "macro_f1": 0.4, "per_class": {"a": 1.0}},
                               "2": {"wa": 0.8, "ua": 0.7, "macro_f1": 0.6, "per_class": {"a": 0.0}}})
    assert summary["mean"]["ua"] == pytest.approx(0.6) and summary["std"]["ua"] == pytest.approx(0.1)
    assert summary["mean"]["per_class"]["a"] == 0.5
