"""WA, UA and confusion against hand-computed values; fold summaries."""

import pytest

from sertool.evaluation.metrics import (
    classification_scores,
    important_ua,
    important_ua_of,
    split_words,
    word_error_rate,
)
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


def test_uai_is_the_ua_of_neutral_happy_angry_sad():
    """speecheq.txt §3.1's UAi on a 9-class SEQM confusion: only the four important rows count."""
    labels = ["neutral", "joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation"]
    y_true = [0] * 4 + [1] * 4 + [2] * 4 + [5] * 4 + [7] * 4
    y_pred = [0, 0, 0, 2] + [1, 1, 8, 8] + [0, 0, 0, 0] + [5, 5, 5, 3] + [7, 7, 7, 7]
    expected = (3 / 4 + 2 / 4 + 3 / 4 + 4 / 4) / 4
    assert important_ua_of(y_true, y_pred, labels) == pytest.approx(expected)
    cm = classification_scores(y_true, y_pred, labels)["confusion"]
    assert important_ua(cm, labels) == pytest.approx(expected)
    assert classification_scores(y_true, y_pred, labels)["ua"] != pytest.approx(expected)  # trust counts in UA
    # iemocap4 names; an important class without reference utterances does not count
    assert important_ua([[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 4]],
                        ["neutral", "happy", "angry", "sad"]) == pytest.approx((1 + 0.5 + 1) / 3)
    assert important_ua([[1, 0], [0, 1]], ["trust", "fear"]) is None
    with pytest.raises(ValueError, match="does not match 3 labels"):
        important_ua([[1, 0], [0, 1]], ["neutral", "happy", "sad"])


def test_wer_splits_character_outputs_at_the_word_separator():
    assert split_words(list("||hi||there|")) == [("h", "i"), ("t", "h", "e", "r", "e")]
    refs = [list("the|cat|sat"), list("on|a|mat")]
    hyps = [list("the|cat|sat|down"), list("on|mat")]  # one insertion, one deletion
    assert word_error_rate(refs, hyps) == pytest.approx(2 / 6)
    assert word_error_rate([list("a|b")], [[]]) == 1.0  # nothing recognised: every word deleted
    assert word_error_rate([[5, 4, 6, 7]], [[5, 4, 6, 8]], separator=4) == 0.5  # char32 ids, "|" = 4
