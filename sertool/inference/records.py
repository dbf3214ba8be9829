"""The records ``sertool infer`` writes, made from the model's answers for each window of a clip.

One record per clip, or with segments one per segment and a summary (see
:mod:`sertool.inference.plan`); every record is strict JSON (no NaN or Infinity):

* an answer: ``{"file", "emotion", "probabilities", <other heads>}`` with ``"windows": n`` when
  the clip was longer than the model's training length and ``"warning"`` for a truncated WAV;
* a segment: ``{"file", "segment": i, "start", "end", <answer>}`` (seconds), or with
  ``"skipped"`` instead of an answer when the segment is digital silence;
* the summary of a segmented recording: ``{"file", "start": 0, "end", "segments": n, <answer>}``,
  the duration-weighted mean of its answered segments;
* an error: ``{"file", "error"}``.

Answers of several windows (or segments) are combined by :func:`combine`: the duration-weighted
mean of every probability and number; each label is the most probable class of its combined
probabilities.

Example:
    >>> a = {"emotion": "sad", "probabilities": {"happy": 0.25, "sad": 0.75}, "intensity": 1.0}
    >>> b = {"emotion": "happy", "probabilities": {"happy": 0.75, "sad": 0.25}, "intensity": 3.0}
    >>> combine([a, b], [1.0, 3.0])                  # b covers three times as long
    {'emotion': 'happy', 'probabilities': {'happy': 0.625, 'sad': 0.375}, 'intensity': 2.5}
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any

from sertool.inference.plan import SILENCE_PEAK, ClipPlan

SILENT = f"silent: no sample louder than {20 * math.log10(SILENCE_PEAK):.1f} dBFS (digital silence)"


def probabilities_key(label_key: str) -> str:
    """Where a label's class probabilities are: ``probabilities`` for ``emotion``, else ``<task>_probabilities``."""
    return "probabilities" if label_key == "emotion" else f"{label_key}_probabilities"


def combine(answers: list[dict[str, Any]], weights: list[float]) -> dict[str, Any]:
    """The weighted combination of several answers of the same model (see the module docstring)."""
    if len(answers) == 1:
        return dict(answers[0])
    total = float(sum(weights))
    out: dict[str, Any] = {}
    for key, first in answers[0].items():
        values = [a[key] for a in answers]
        if isinstance(first, dict) and all(isinstance(v, (int, float)) for v in first.values()):
            mean = {k: sum(w * v[k] for v, w in zip(values, weights)) / total for k in first}
            if key.endswith("probabilities"):
                norm = sum(mean.values())
                mean = {k: v / norm for k, v in mean.items()}
            out[key] = mean
        elif isinstance(first, (int, float)) and not isinstance(first, bool):
            out[key] = round(sum(w * v for v, w in zip(values, weights)) / total, 4)
        elif isinstance(first, str):
            votes: dict[str, float] = defaultdict(float)
            for v, w in zip(values, weights):
                votes[v] += w
            out[key] = max(votes, key=votes.__getitem__)
        else:  # anything else: the heaviest window's
            out[key] = max(zip(values, weights), key=lambda vw: vw[1])[0]
    for key, value in out.items():  # a label follows its combined probabilities
        probs = out.get(probabilities_key(key))
        if isinstance(value, str) and isinstance(probs, dict) and probs:
            out[key] = max(probs, key=probs.__getitem__)
    return out


def is_finite(answer: Any) -> bool:
    """Whether every number in ``answer`` is finite (what strict JSON can hold).

    Example:
        >>> is_finite({"p": {"a": 0.5}, "x": [1.0, 2]}), is_finite({"p": {"a": float("nan")}})
        (True, False)
    """
    if isinstance(answer, float):
        return math.isfinite(answer)
    if isinstance(answer, dict):
        return all(is_finite(v) for v in answer.values())
    if isinstance(answer, (list, tuple)):
        return all(is_finite(v) for v in answer)
    return True


def dumps(record: dict[str, Any]) -> str:
    """One strict JSON line (``allow_nan=False``: a NaN would be a bug, never written)."""
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


def _base(plan: ClipPlan) -> dict[str, Any]:
    base: dict[str, Any] = {} if plan.path is None else {"file": plan.path}
    if plan.id is not None:
        base["id"] = plan.id
    return base


def clip_records(plan: ClipPlan, answers: dict[tuple[int, int], dict[str, Any]],
                 error: str | None = None) -> list[dict]:
    """The records of a finished clip: ``answers`` maps (unit, window) to the model's answer.

    A window missing from ``answers`` was digital silence. Returns the clip's records; the last
    one is its answer (the summary, with segments) or its error record.
    """
    base = _base(plan)
    error = error or plan.error
    if error:
        return [{**base, "error": error}]
    sr = plan.sample_rate
    units: list[tuple[dict[str, Any] | None, int, int]] = []  # (answer, windows answered, silent windows)
    for u, unit in enumerate(plan.units):
        got = [(answers[(u, w)], b - a) for w, (a, b) in enumerate(unit.windows) if (u, w) in answers]
        answer = combine([g[0] for g in got], [g[1] for g in got]) if got else None
        units.append((answer, len(got), len(unit.windows) - len(got)))
    extra = {"warning": plan.warning} if plan.warning else {}
    if not plan.segmented:
        answer, n, silent = units[0]
        if answer is None:
            return [{**base, "error": SILENT}]
        counts = {"windows": n} if n + silent > 1 else {}
        if silent:
            counts["silent_windows"] = silent
        return [{**base, **answer, **counts, **extra}]
    records, answered, weights = [], [], []
    for i, ((answer, n, silent), unit) in enumerate(zip(units, plan.units), 1):
        rec = {**base, "segment": i, "start": round(unit.start / sr, 3), "end": round(unit.stop / sr, 3)}
        if answer is None:
            records.append({**rec, "skipped": SILENT})
            continue
        counts = {"windows": n} if n + silent > 1 else {}
        if silent:
            counts["silent_windows"] = silent
        records.append({**rec, **answer, **counts})
        answered.append(answer)
        weights.append(unit.stop - unit.start)
    if not answered:
        return [{**base, "error": SILENT}]
    summary = {**base, "start": 0.0, "end": round(plan.frames / sr, 3), "segments": len(answered),
               **combine(answered, weights), **extra}
    return records + [summary]
