"""Classification metrics of speech emotion recognition.

WA (weighted accuracy) is the overall accuracy; UA (unweighted accuracy) the mean of the
per-class recalls, over the classes present in the reference. Both are fractions in [0, 1].

Example:
    >>> s = classification_scores([0, 0, 1, 2], [0, 1, 1, 2], labels=["neutral", "happy", "angry"])
    >>> round(s["wa"], 3), round(s["ua"], 3), s["confusion"]
    (0.75, 0.833, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` of reference class i predicted as j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def classification_scores(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict:
    """WA, UA, macro-F1, per-class recall and the confusion matrix (rows: reference)."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    diag = np.diag(cm)
    present = support > 0
    recall = np.divide(diag, support, out=np.zeros(len(labels)), where=present)
    precision = np.divide(diag, predicted, out=np.zeros(len(labels)), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(len(labels)),
                   where=(precision + recall) > 0)
    total = int(support.sum())
    return {
        "labels": list(labels),
        "n": total,
        "wa": float(diag.sum() / total) if total else 0.0,
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "per_class": {lab: float(recall[i]) for i, lab in enumerate(labels) if present[i]},
        "support": {lab: int(support[i]) for i, lab in enumerate(labels)},
        "confusion": cm.tolist(),
    }
