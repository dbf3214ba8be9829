"""Score summaries: mean ± std over folds, or over runs of repeated cross-validation."""

from __future__ import annotations

import numpy as np
import pytest

from sertool.evaluation.report import summarise_folds


def test_repeated_cross_validation_is_summarised_over_runs():
    # ssl_mtl.txt: 5-fold × 5 seeds → mean ± std over the 5 runs, each run the mean of its folds
    folds = {f"r{r}-{k}": {"wa": v, "ua": v, "macro_f1": v, "aux": {"gender_acc": v}}
             for r, vals in ((1, [0.5, 0.7]), (2, [0.6, 0.8]), (3, [0.65, 0.75])) for k, v in enumerate(vals, 1)}
    s = summarise_folds(folds)
    assert s["over"] == "runs" and list(s["runs"]) == ["r1", "r2", "r3"]
    assert s["runs"]["r1"]["ua"] == pytest.approx(0.6)
    assert s["mean"]["ua"] == pytest.approx(np.mean([0.6, 0.7, 0.7]))
    assert s["std"]["ua"] == pytest.approx(np.std([0.6, 0.7, 0.7]))  # not the std over all six folds
    assert s["std"]["ua"] != pytest.approx(np.std([0.5, 0.7, 0.6, 0.8, 0.65, 0.75]))
    assert s["mean"]["gender_acc"] == pytest.approx(s["mean"]["ua"])


def test_pooled_confusion_over_all_folds_differs_from_the_fold_mean():
    # sa_cnn_blstm.txt Table 3: one confusion matrix over every test utterance
    big = {"labels": ["a", "b"], "wa": 0.9, "ua": 0.9, "confusion": [[45, 5], [5, 45]]}
    small = {"labels": ["a", "b"], "wa": 0.5, "ua": 0.5, "confusion": [[5, 5], [5, 5]]}
    from sertool.evaluation.report import pooled_scores

    pooled = pooled_scores({"1": big, "2": small})
    assert pooled["n"] == 120 and pooled["confusion"] == [[50, 10], [10, 50]]
    fold_mean = summarise_folds({"1": big, "2": small})["mean"]["wa"]
    assert pooled["wa"] == pytest.approx(100 / 120) and fold_mean == pytest.approx(0.7)
    assert pooled_scores({"1": big, "2": {**small, "labels": ["a", "c"]}}) is None
