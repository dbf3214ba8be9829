"""Metrics of speech emotion recognition and of its auxiliary tasks.

WA (weighted accuracy) is the overall accuracy; UA (unweighted accuracy) the mean of the
per-class recalls, over the classes present in the reference. Both are fractions in [0, 1].
Intensity regression is scored with Lin's CCC and the MSE (speecheq.txt §3.1); CTC outputs with
a token error rate (PER / CER / WER).

Example:
    >>> s = classification_scores([0, 0, 1, 2], [0, 1, 1, 2], labels=["neutral", "happy", "angry"])
    >>> round(s["wa"], 3), round(s["ua"], 3), s["confusion"]
    (0.75, 0.833, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
"""

from __future__ import annotations

from collections.abc import Sequence

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


def concordance_cc(pred: Sequence[float], ref: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient ``2·cov / (var_p + var_r + (mean_p − mean_r)²)``.

    Example:
        >>> round(concordance_cc([1.0, 2.0, 3.0], [1.0, 2.0, 3.5]), 3)
        0.952
    """
    p, r = np.asarray(pred, dtype=float), np.asarray(ref, dtype=float)
    cov = np.mean((p - p.mean()) * (r - r.mean()))
    denom = p.var() + r.var() + (p.mean() - r.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


def mean_squared_error(pred: Sequence[float], ref: Sequence[float]) -> float:
    p, r = np.asarray(pred, dtype=float), np.asarray(ref, dtype=float)
    return float(np.mean((p - r) ** 2)) if p.size else 0.0


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions + deletions + insertions) between two token sequences."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def token_error_rate(refs: Sequence[Sequence], hyps: Sequence[Sequence]) -> float:
    """``(S + D + I) / N`` over a corpus: PER for phones, CER for characters, WER for words.

    Example:
        >>> token_error_rate([["a", "b", "c"]], [["a", "c", "d"]])
        0.6666666666666666
    """
    total = sum(len(r) for r in refs)
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps)) / total if total else 0.0
