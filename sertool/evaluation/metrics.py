"""Metrics of speech emotion recognition and of its auxiliary tasks.

WA (weighted accuracy) is the overall accuracy; UA (unweighted accuracy) the mean of the
per-class recalls, over the classes present in the reference. Both are fractions in [0, 1].
Intensity regression is scored with Lin's CCC and the MSE (speecheq.txt §3.1); CTC outputs with
a token error rate (PER / CER / WER). UAi (:func:`important_ua`) is the UA over SpeechEQ's
"important emotions" (neutral, happy, angry, sad, speecheq.txt §3.1) of a wider label set;
:func:`word_error_rate` scores character CTC outputs by the words between ``|`` separators
(ssl_mtl.txt §3.2's WER).

Example:
    >>> s = classification_scores([0, 0, 1, 2], [0, 1, 1, 2], labels=["neutral", "happy", "angry"])
    >>> round(s["wa"], 3), round(s["ua"], 3), s["confusion"]
    (0.75, 0.833, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    >>> important_ua(s["confusion"], ["neutral", "happy", "angry"])   # (1/2 + 1 + 1) / 3
    0.8333333333333334
    >>> word_error_rate([list("the|cat|sat")], [list("the|bat|sat")])
    0.3333333333333333
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sertool.data.labels import EMOTION_ALIASES

#: SpeechEQ's important emotions, whose UA is UAi (speecheq.txt §3.1).
IMPORTANT_EMOTIONS = ("neutral", "happy", "angry", "sad")
#: The word separator of the ``char32`` inventory.
WORD_SEPARATOR = "|"


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


def important_ua(confusion: Sequence[Sequence[int]] | np.ndarray, labels: Sequence[str],
                 important: Sequence[str] = IMPORTANT_EMOTIONS) -> float | None:
    """UAi: the mean recall of the ``important`` emotions present in the reference.

    speecheq.txt §3.1: "The unweighted accuracy of important emotions (UAi) with neutral, happy,
    angry, and sad". ``confusion`` counts reference class i (rows, in ``labels`` order) predicted
    as j over the whole label set, so a sad utterance predicted as fear is an error of sad's
    recall (sertool's reading: the paper gives no formula; docs/protocols.md, speecheq). A label
    is matched by its emotion in any spelling sertool reads (SEQM's ``joy``, ``anger``,
    ``sadness`` are happy, angry, sad); an important emotion absent from ``labels`` or without
    reference utterances does not count. ``None`` when none is present.

    Example:
        >>> labels = ["neutral", "joy", "trust", "anger", "sadness", "fear"]      # SEQM names
        >>> cm = [[8, 1, 1, 0, 0, 0],          # neutral: 8 of 10
        ...       [0, 5, 5, 0, 0, 0],          # joy = happy: 5 of 10
        ...       [0, 0, 9, 1, 0, 0],          # trust: not an important emotion
        ...       [0, 0, 0, 10, 0, 0],         # anger = angry: 10 of 10
        ...       [0, 0, 0, 0, 7, 3],          # sadness = sad: 7 of 10
        ...       [0, 0, 0, 0, 0, 10]]
        >>> important_ua(cm, labels)           # (0.8 + 0.5 + 1.0 + 0.7) / 4
        0.75
        >>> important_ua(cm, labels, important=("surprise",)) is None
        True
    """
    cm = np.asarray(confusion, dtype=np.int64)
    if cm.shape != (len(labels), len(labels)):
        raise ValueError(f"confusion matrix {cm.shape} does not match {len(labels)} labels")
    wanted = {EMOTION_ALIASES.get(e.strip().lower(), e) for e in important}
    recalls = []
    for i, label in enumerate(labels):
        support = int(cm[i].sum())
        if EMOTION_ALIASES.get(label.strip().lower(), label) in wanted and support:
            recalls.append(cm[i, i] / support)
    return float(np.mean(recalls)) if recalls else None


def important_ua_of(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str],
                    important: Sequence[str] = IMPORTANT_EMOTIONS) -> float | None:
    """UAi (:func:`important_ua`) from reference and predicted class indices into ``labels``.

    Example:
        >>> important_ua_of([0, 0, 1, 2, 3], [0, 1, 1, 2, 2], ["neutral", "happy", "sad", "fear"])  # (1/2 + 1 + 1) / 3
        0.8333333333333334
    """
    return important_ua(confusion_matrix(y_true, y_pred, len(labels)), labels, important)


def split_words(tokens: Sequence, separator=WORD_SEPARATOR) -> list[tuple]:
    """The words of a character sequence: the runs between ``separator`` tokens (empty runs dropped).

    Tokens may be characters or ids (then ``separator`` is the separator's id).

    Example:
        >>> split_words(list("|the||cat|"))
        [('t', 'h', 'e'), ('c', 'a', 't')]
        >>> split_words([6, 11, 5, 4, 19, 7, 6], separator=4)
        [(6, 11, 5), (19, 7, 6)]
    """
    words: list[tuple] = []
    word: list = []
    for t in tokens:
        if t == separator:
            if word:
                words.append(tuple(word))
            word = []
        else:
            word.append(t)
    if word:
        words.append(tuple(word))
    return words


def word_error_rate(refs: Sequence[Sequence], hyps: Sequence[Sequence], separator=WORD_SEPARATOR) -> float:
    """WER of character CTC outputs: ``(S + D + I) / N`` over the words split at ``separator``.

    ssl_mtl.txt §3.2: "WER = (S + D + I) / N ... N denotes the total number of words in the
    reference text", summed over the corpus (not averaged per utterance); a hypothesis with no
    words against a reference of N words is N deletions.

    Example:
        >>> word_error_rate([list("a|cat"), list("on|the|mat")], [list("a|cat|sat"), list("on|mat")])
        0.4
    """
    return token_error_rate([split_words(r, separator) for r in refs], [split_words(h, separator) for h in hyps])
