"""Running a multi-task model over batches and scoring its tasks.

:func:`predict` collects, per task, the references, hypotheses and corpora of the labelled
items of a loader, and each task's mean loss; :func:`main_scores`, :func:`aux_metrics` and
:func:`per_corpus_scores` turn those into the figures validation, ``sertool eval`` and the
score files report. Nothing here knows how the batches were made; ``model`` is any module with
task heads in ``model.tasks`` (a :class:`~sertool.models.multitask.MultiTaskModel`), so this
package stays below the models.

Example::

    pred = predict(model, loader, torch.device("cpu"))
    main_scores(model, pred, "emotion")["ua"], aux_metrics(model, pred, ["gender"])
    # 0.71, {'gender_acc': 0.93}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def to_device(inputs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in inputs.items()}


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: torch.device, amp: bool = False) -> dict[str, Any]:
    """Run ``model`` over a loader: per task the references, hypotheses and corpora of the labelled
    items, and each task's mean loss (``_loss``)."""
    model.eval()
    out: dict[str, Any] = {name: {"ref": [], "hyp": [], "corpus": []} for name in model.tasks}
    loss_sums = dict.fromkeys(model.tasks, 0.0)
    loss_counts = dict.fromkeys(model.tasks, 0)
    for batch in loader:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
            preds = model(**to_device(batch["inputs"], device))
        for name, task in model.tasks.items():
            labels = {k: v.to(device) for k, v in batch["labels"][name].items()}
            refs = task.references(labels)
            n = sum(r is not None for r in refs)
            if not n:
                continue
            loss = task.loss(preds[name], labels)
            if loss is not None:
                loss_sums[name] += float(loss) * n
                loss_counts[name] += n
            for r, h, c in zip(refs, task.decode(preds[name]), batch["corpora"]):
                if r is not None:
                    out[name]["ref"].append(r)
                    out[name]["hyp"].append(h)
                    out[name]["corpus"].append(c)
    out["_loss"] = {k: loss_sums[k] / loss_counts[k] for k in loss_sums if loss_counts[k]}
    return out


def main_scores(model: nn.Module, predictions: dict[str, Any], task: str) -> dict[str, Any] | None:
    """WA, UA, per-class recall and confusion of the main (classification) task."""
    p = predictions[task]
    return model.tasks[task].report(p["ref"], p["hyp"]) if p["ref"] else None


def aux_metrics(model: nn.Module, predictions: dict[str, Any], tasks: list[str]) -> dict[str, float]:
    """``<task>_<metric>`` of ``tasks``: accuracy, CCC and MSE, PER / CER, reconstruction MSE."""
    out: dict[str, float] = {}
    for name in tasks:
        p = predictions[name]
        if p["ref"]:
            out.update({f"{name}_{k}": v for k, v in model.tasks[name].metrics(p["ref"], p["hyp"]).items()})
    return out


def per_corpus_scores(task: Any, pred: dict[str, list]) -> dict[str, dict[str, float]]:
    """WA and UA of a classification task's predictions (``ref``, ``hyp``, ``corpus`` lists) per corpus."""
    out = {}
    for c in sorted(set(pred["corpus"])):
        pairs = [(r, h) for r, h, k in zip(pred["ref"], pred["hyp"], pred["corpus"]) if k == c]
        s = task.report([r for r, _ in pairs], [h for _, h in pairs])
        out[c] = {"n": s["n"], "wa": s["wa"], "ua": s["ua"]}
    return out
