"""Several experiments' scores as one markdown table (``sertool scores``): the rows of a paper's table.

Each row is one score file: an experiment's ``EXP/scores.json`` (written by ``sertool eval EXP``)
or a cross-corpus ``EXP/cross/<name>/scores.json`` (``sertool eval EXP --test MANIFEST``). Each
metric column is the mean ± std the file holds (over folds, or over runs for repeated
cross-validation), in percent except CCC and MSE; then how many folds were scored (and whether
all were), the protocol and whether it is speaker-independent, so a RESULTS.md row never hides
a partial or speaker-dependent figure.

Example:
    >>> a = {"folds": {"1": {}, "2": {}}, "mean": {"ua": 0.61, "wa": 0.6}, "std": {"ua": 0.02, "wa": 0.01},
    ...      "complete": True, "protocol": "leave-one-session-out", "speaker_independent": True}
    >>> b = {"folds": {"1": {}}, "mean": {"ua": 0.5, "wa": 0.55}, "std": {"ua": 0.0, "wa": 0.0},
    ...      "complete": False, "missing_folds": {"2": "not trained"}, "protocol": "custom",
    ...      "speaker_independent": False}
    >>> print(markdown_table([ScoreRow("baseline", a), ScoreRow("MTL", b)], ["ua", "wa"]))
    | experiment | UA (%) | WA (%) | folds | protocol | speaker-independent |
    | --- | --- | --- | --- | --- | --- |
    | baseline | 61.00 ± 2.00 | 60.00 ± 1.00 | 2 | leave-one-session-out | yes |
    | MTL | 50.00 ± 0.00 | 55.00 ± 0.00 | 1 of 2 (partial) | custom | **no** |
    <BLANKLINE>
    Mean ± std over folds (over runs for repeated cross-validation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sertool.errors import SertoolError
from sertool.evaluation.report import HEADERS, PLAIN_AUX_SUFFIXES

SCORES_NAME = "scores.json"
DEFAULT_METRICS = ("ua", "wa")
#: Metrics read from elsewhere than ``mean``/``std``: the pooled confusion's, and the average over
#: test corpora (selective_mtl.txt Table 3).
EXTRA_METRICS = {"pooled_wa": ("pooled", "wa"), "pooled_ua": ("pooled", "ua"), "pooled_uai": ("pooled", "uai"),
                 "corpus_avg_wa": ("corpora", "wa"), "corpus_avg_ua": ("corpora", "ua")}


@dataclass
class ScoreRow:
    """One row: its name and the summary it shows (an ``EXP/scores.json`` or a cross-corpus one)."""

    name: str
    summary: dict[str, Any]


def scores_file(path: str | Path) -> Path:
    """The score file ``path`` names: itself, or ``scores.json`` in a directory (an experiment or a
    ``cross/<name>`` folder)."""
    path = Path(path)
    if path.is_dir():
        if not (path / SCORES_NAME).is_file():
            raise SertoolError(f"no {SCORES_NAME} in {path}: run `sertool eval {path}` first")
        return path / SCORES_NAME
    if not path.is_file():
        raise SertoolError(f"scores not found: {path} (give an experiment directory or a scores.json)")
    return path


def default_name(file: Path, summary: dict[str, Any]) -> str:
    """An experiment's directory name; ``EXP → NAME`` for a cross-corpus file.

    Example:
        >>> default_name(Path("exp/sa/scores.json"), {}), default_name(Path("exp/sa/cross/cremad/scores.json"),
        ...                                                            {"protocol": "cross-corpus", "name": "cremad"})
        ('sa', 'sa → cremad')
    """
    file = file.resolve() if not file.is_absolute() and file.exists() else file
    if summary.get("protocol") == "cross-corpus":
        return f"{file.parent.parent.parent.name} → {summary.get('name', file.parent.name)}"
    return file.parent.name


def read_row(path: str | Path, name: str | None = None) -> ScoreRow:
    """The row of one score file (see :func:`scores_file`), named ``name`` or by :func:`default_name`."""
    file = scores_file(path)
    try:
        summary = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(summary, dict) or not isinstance(summary.get("mean"), dict):
            raise ValueError("no mean scores")
    except ValueError as e:
        raise SertoolError(f"{file} is not a sertool score file ({e})") from None
    return ScoreRow(name or default_name(file, summary), summary)


def _percent(key: str) -> bool:
    return not key.endswith(PLAIN_AUX_SUFFIXES)


def header(metric: str) -> str:
    """Column title: ``UA (%)``, ``gender_acc (%)``, ``intensity_ccc``, ``pooled UA (%)``.

    Example:
        >>> header("uai"), header("intensity_ccc"), header("pooled_ua"), header("corpus_avg_wa")
        ('UAi (%)', 'intensity_ccc', 'pooled UA (%)', 'corpus average WA (%)')
    """
    if metric in EXTRA_METRICS:
        where, key = EXTRA_METRICS[metric]
        return f"{'pooled' if where == 'pooled' else 'corpus average'} {HEADERS[key]} (%)"
    return HEADERS.get(metric, metric) + (" (%)" if _percent(metric) else "")


def _value(summary: dict[str, Any], metric: str) -> str:
    scale = 100.0 if _percent(metric) else 1.0
    digits = 2 if _percent(metric) else 3
    if metric in EXTRA_METRICS:
        where, key = EXTRA_METRICS[metric]
        block = summary.get(where) or {}
        value = (block.get("average") or {}).get(key) if where == "corpora" else block.get(key)
        return "–" if value is None else f"{scale * value:.{digits}f}"
    if metric not in summary["mean"]:
        return "–"
    std = summary.get("std", {}).get(metric)
    mean = f"{scale * summary['mean'][metric]:.{digits}f}"
    return mean if std is None else f"{mean} ± {scale * std:.{digits}f}"


def _folds(summary: dict[str, Any]) -> str:
    n = len(summary.get("folds", {}))
    text = f"{n}" if summary.get("over") != "runs" else f"{n} ({len(summary.get('runs', {}))} runs)"
    if summary.get("complete") is False:
        text = f"{n} of {n + len(summary.get('missing_folds', {}))} (partial)"
    return text


def _protocol(summary: dict[str, Any]) -> str:
    protocol = str(summary.get("protocol", "?"))
    if protocol == "cross-corpus" and "scored" in summary:
        protocol += f": {summary.get('name')} ({summary['scored']} of {summary['utterances']} utterances scored, " \
                    f"{summary.get('label_set')})"
    return protocol


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def check_metrics(metrics: list[str], rows: list[ScoreRow]) -> None:
    """Refuse a metric that no row has (a typo), naming the ones the rows hold."""
    known = set(EXTRA_METRICS) | {k for r in rows for k in r.summary["mean"] if k != "per_class"}
    unknown = [m for m in metrics if m not in known]
    if unknown:
        raise SertoolError(f"no score file has metric(s) {', '.join(unknown)} (they have: {', '.join(sorted(known))})")


def markdown_table(rows: list[ScoreRow], metrics: list[str] | tuple[str, ...] = DEFAULT_METRICS) -> str:
    """The rows as a markdown table (GitHub style), with a line saying what ± means."""
    cols = ["experiment", *(header(m) for m in metrics), "folds", "protocol", "speaker-independent"]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for r in rows:
        s = r.summary
        independent = {True: "yes", False: "**no**"}.get(s.get("speaker_independent"), "?")
        cells = [r.name, *(_value(s, m) for m in metrics), _folds(s), _protocol(s), independent]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n\nMean ± std over folds (over runs for repeated cross-validation)."
