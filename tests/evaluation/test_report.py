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
