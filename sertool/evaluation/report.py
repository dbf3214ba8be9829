"""Score files, tables and confusion-matrix plots.

``fold-<name>/scores.json`` holds one fold's scores (:func:`classification_scores` plus any
auxiliary task's); ``EXP/scores.json`` holds every fold and the mean ± std over folds.

Example:
    >>> summary = summarise_folds({"1": {"wa": 0.7, "ua": 0.6}, "2": {"wa": 0.8, "ua": 0.7}})
    >>> round(summary["mean"]["ua"], 3), round(summary["std"]["ua"], 3)
    (0.65, 0.05)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

SUMMARY_KEYS = ("wa", "ua", "macro_f1", "uai")  # uai: emotion tasks whose labels have the important four
HEADERS = {"wa": "WA", "ua": "UA", "macro_f1": "macro-F1", "uai": "UAi"}
# Auxiliary scores that are not fractions (printed as they are, not in percent).
PLAIN_AUX_SUFFIXES = ("_ccc", "_mse")


def _aux(key: str, value: float) -> str:
    return f"{value:.3f}" if key.endswith(PLAIN_AUX_SUFFIXES) else f"{100 * value:.2f}"


def _mean_std(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mean and (population) std over ``rows`` of WA, UA, macro-F1, per-class recall and aux scores."""
    keys = [k for k in SUMMARY_KEYS if all(k in s for s in rows)]
    aux = sorted({k for s in rows for k in s.get("aux", {})})
    mean: dict[str, Any] = {}
    std: dict[str, Any] = {}
    for k in keys:
        vals = np.array([s[k] for s in rows], dtype=float)
        mean[k], std[k] = float(vals.mean()), float(vals.std())
    for k in aux:
        vals = np.array([s["aux"][k] for s in rows if k in s.get("aux", {})], dtype=float)
        mean[k], std[k] = float(vals.mean()), float(vals.std())
    labels = sorted({lab for s in rows for lab in s.get("per_class", {})})
    if labels:
        mean["per_class"] = {lab: float(np.mean([s["per_class"][lab] for s in rows
                                                 if lab in s.get("per_class", {})])) for lab in labels}
    return mean, std


RUN_NAME = re.compile(r"^(r\d+)-")


def summarise_folds(folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std of the scores: over folds, or over runs for repeated cross-validation.

    Folds named ``r<run>-<fold>`` (``sertool prep --repeats``) are runs of k folds with different
    seeds: each run's score is its folds' mean, and the mean ± std is over the runs (ssl_mtl.txt:
    5-fold × 5 seeds, 10-fold × 10 seeds), not over all r × k folds; ``runs`` holds each run's means.

    Example:
        >>> summary = summarise_folds({"1": {"wa": 0.7, "ua": 0.6}, "2": {"wa": 0.8, "ua": 0.7}})
        >>> round(summary["mean"]["ua"], 3), round(summary["std"]["ua"], 3)
        (0.65, 0.05)
        >>> runs = summarise_folds({"r1-1": {"wa": 0.5, "ua": 0.5}, "r1-2": {"wa": 0.9, "ua": 0.9},
        ...                         "r2-1": {"wa": 0.6, "ua": 0.6}, "r2-2": {"wa": 0.8, "ua": 0.8}})
        >>> round(runs["mean"]["ua"], 3), round(runs["std"]["ua"], 3), sorted(runs["runs"])   # both runs: 0.7
        (0.7, 0.0, ['r1', 'r2'])
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, s in folds.items():
        m = RUN_NAME.match(name)
        groups.setdefault(m.group(1) if m else "", []).append(s)
    if "" in groups or len(groups) < 2:
        mean, std = _mean_std(list(folds.values()))
        return {"folds": folds, "mean": mean, "std": std}
    runs = {r: _mean_std(rows)[0] for r, rows in sorted(groups.items())}
    run_rows = [{**{k: v for k, v in m.items() if k in SUMMARY_KEYS},
                 "aux": {k: v for k, v in m.items() if k not in SUMMARY_KEYS and k != "per_class"},
                 **({"per_class": m["per_class"]} if "per_class" in m else {})} for m in runs.values()]
    mean, std = _mean_std(run_rows)
    return {"folds": folds, "runs": runs, "mean": mean, "std": std, "over": "runs"}


def pooled_scores(folds: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Scores of one confusion matrix summed over every fold's test utterances (sa_cnn_blstm.txt
    Table 3 pools all 5,531), beside the fold mean ± std; None when the folds' labels differ.

    Example:
        >>> a = {"labels": ["x", "y"], "confusion": [[3, 1], [0, 4]]}
        >>> b = {"labels": ["x", "y"], "confusion": [[1, 1], [2, 0]]}
        >>> p = pooled_scores({"1": a, "2": b})
        >>> p["confusion"], p["n"], round(p["wa"], 3), round(p["ua"], 3)
        ([[4, 2], [2, 4]], 12, 0.667, 0.667)
    """
    from sertool.evaluation.metrics import classification_scores, important_ua

    rows = [s for s in folds.values() if "confusion" in s]
    if not rows or any(s["labels"] != rows[0]["labels"] for s in rows):
        return None
    cm = np.sum([np.asarray(s["confusion"], dtype=np.int64) for s in rows], axis=0)
    ref = np.repeat(np.arange(cm.shape[0]), cm.sum(axis=1))
    hyp = np.concatenate([np.repeat(np.arange(cm.shape[1]), row) for row in cm])
    pooled = classification_scores(ref.tolist(), hyp.tolist(), rows[0]["labels"])
    if all("uai" in s for s in rows):
        pooled["uai"] = important_ua(cm, rows[0]["labels"])
    return pooled


def corpus_average(folds: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """Per test corpus, the fold mean of its WA and UA, and their average over the corpora
    (selective_mtl.txt Table 3 averages the acted and spontaneous test sets); None for one corpus.

    Example:
        >>> f = {"1": {"per_corpus": {"a": {"wa": 0.6, "ua": 0.5}, "b": {"wa": 0.8, "ua": 0.7}}}}
        >>> corpus_average(f)["average"]
        {'wa': 0.7, 'ua': 0.6}
    """
    corpora = sorted({c for s in folds.values() for c in s.get("per_corpus", {})})
    if len(corpora) < 2:
        return None
    per = {c: {k: float(np.mean([s["per_corpus"][c][k] for s in folds.values() if c in s.get("per_corpus", {})]))
               for k in ("wa", "ua")} for c in corpora}
    average = {k: round(float(np.mean([per[c][k] for c in corpora])), 10) for k in ("wa", "ua")}
    return {"per_corpus": per, "average": average}


def format_table(summary: dict[str, Any], title: str = "evaluation (test sets, %)") -> Table:
    """A rich table: one row per fold, then mean ± std; values in percent (CCC and MSE as they are)."""
    folds = summary["folds"]
    aux = sorted({k for s in folds.values() for k in s.get("aux", {})})
    notes = []
    if summary.get("complete") is False:
        notes.append(f"PARTIAL: {len(summary.get('missing_folds', {}))} fold(s) not scored")
    if summary.get("speaker_independent") is False:
        notes.append(f"SPEAKER-DEPENDENT folds ({summary.get('protocol')})")
    table = Table(title=title + "".join(f"; {n}" for n in notes))
    keys = [k for k in SUMMARY_KEYS if all(k in s for s in folds.values())]
    for col in ("fold", "n", *(HEADERS[k] for k in keys), *aux):
        table.add_column(col, justify="right", no_wrap=col == "fold")  # row labels stay whole on narrow terminals
    for name, s in folds.items():
        table.add_row(name, str(s.get("n", "")), *(f"{100 * s[k]:.2f}" for k in keys),
                      *(_aux(k, s["aux"][k]) if k in s.get("aux", {}) else "" for k in aux))
    mean, std = summary["mean"], summary["std"]
    over = f"mean ± std ({len(summary['runs'])} runs)" if summary.get("over") == "runs" else "mean ± std"
    table.add_row(over, "", *(f"{100 * mean[k]:.2f} ± {100 * std[k]:.2f}" for k in keys),
                  *(f"{_aux(k, mean[k])} ± {_aux(k, std[k])}" for k in aux), style="bold")
    if "pooled" in summary:
        p = summary["pooled"]
        table.add_row("pooled", str(p["n"]), *(f"{100 * p[k]:.2f}" if k in p else "" for k in keys),
                      *("" for _ in aux))
    blank = ["" for _ in keys[2:]]
    for corpus, s in summary.get("corpora", {}).get("per_corpus", {}).items():
        table.add_row(f"test: {corpus}", "", f"{100 * s['wa']:.2f}", f"{100 * s['ua']:.2f}", *blank, *("" for _ in aux))
    if "corpora" in summary:
        a = summary["corpora"]["average"]
        table.add_row("corpus average", "", f"{100 * a['wa']:.2f}", f"{100 * a['ua']:.2f}", *blank,
                      *("" for _ in aux))
    return table


def plot_confusion(confusion: list[list[int]], labels: list[str], path: str | Path, title: str = "") -> None:
    """Save a row-normalised confusion matrix with counts as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sertool.stage import atomic_path

    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(cm[i, j])}\n{100 * norm[i, j]:.0f}%", ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
