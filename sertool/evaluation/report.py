"""Score files, tables and confusion-matrix plots.

``fold-<name>/scores.json`` holds one fold's scores (:func:`classification_scores` plus any
auxiliary task's); ``EXP/scores.json`` holds every fold and the mean ± std over folds.

Example:
    >>> summary = summarise_folds({"1": {"wa": 0.7, "ua": 0.6}, "2": {"wa": 0.8, "ua": 0.7}})
    >>> round(summary["mean"]["ua"], 3), round(summary["std"]["ua"], 3)
    (0.65, 0.05)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

SUMMARY_KEYS = ("wa", "ua", "macro_f1")
# Auxiliary scores that are not fractions (printed as they are, not in percent).
PLAIN_AUX_SUFFIXES = ("_ccc", "_mse")


def _aux(key: str, value: float) -> str:
    return f"{value:.3f}" if key.endswith(PLAIN_AUX_SUFFIXES) else f"{100 * value:.2f}"


def summarise_folds(folds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Mean and (population) std over folds of WA, UA, macro-F1, per-class recall and aux scores."""
    keys = [k for k in SUMMARY_KEYS if all(k in s for s in folds.values())]
    aux = sorted({k for s in folds.values() for k in s.get("aux", {})})
    mean: dict[str, Any] = {}
    std: dict[str, Any] = {}
    for k in keys:
        vals = np.array([s[k] for s in folds.values()], dtype=float)
        mean[k], std[k] = float(vals.mean()), float(vals.std())
    for k in aux:
        vals = np.array([s["aux"][k] for s in folds.values() if k in s.get("aux", {})], dtype=float)
        mean[k], std[k] = float(vals.mean()), float(vals.std())
    labels = sorted({lab for s in folds.values() for lab in s.get("per_class", {})})
    if labels:
        mean["per_class"] = {lab: float(np.mean([s["per_class"][lab] for s in folds.values()
                                                 if lab in s["per_class"]])) for lab in labels}
    return {"folds": folds, "mean": mean, "std": std}


def format_table(summary: dict[str, Any]) -> Table:
    """A rich table: one row per fold, then mean ± std; values in percent (CCC and MSE as they are)."""
    folds = summary["folds"]
    aux = sorted({k for s in folds.values() for k in s.get("aux", {})})
    notes = []
    if summary.get("complete") is False:
        notes.append(f"PARTIAL: {len(summary.get('missing_folds', {}))} fold(s) not scored")
    if summary.get("speaker_independent") is False:
        notes.append(f"SPEAKER-DEPENDENT folds ({summary.get('protocol')})")
    table = Table(title="evaluation (test sets, %)" + "".join(f"; {n}" for n in notes))
    for col in ("fold", "n", "WA", "UA", "macro-F1", *aux):
        table.add_column(col, justify="right")
    for name, s in folds.items():
        table.add_row(name, str(s.get("n", "")), *(f"{100 * s[k]:.2f}" for k in SUMMARY_KEYS),
                      *(_aux(k, s["aux"][k]) if k in s.get("aux", {}) else "" for k in aux))
    mean, std = summary["mean"], summary["std"]
    table.add_row("mean ± std", "", *(f"{100 * mean[k]:.2f} ± {100 * std[k]:.2f}" for k in SUMMARY_KEYS),
                  *(f"{_aux(k, mean[k])} ± {_aux(k, std[k])}" for k in aux), style="bold")
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
