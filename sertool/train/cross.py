"""Cross-corpus scoring: every fold's model of an experiment on all of another corpus (``sertool eval --test``).

A cross-corpus matrix row (train on corpus A, test on corpus B) is scored here: each trained
fold's model answers **every** utterance of B's ``manifest.jsonl``, and the row reports the mean ±
std over the folds' models (as the in-corpus table does), with the confusion pooled over them
beside it. B's emotion labels are mapped onto the model's classes through a label set
(:mod:`sertool.data.labels`: the experiment's own, or ``label_set``); an utterance whose label is
outside the set, or that has none, is counted and skipped. B's inputs are prepared as eval
prepares A's test utterances: from B's feature directory (extracted with the extractor the model
was trained on, checked here) or from B's audio for an audio input, cropped to the training
length, and normalised with the **training** statistics stored in the bundle (never B's own: a
directory the bundle does not know falls back to the training pool, and under ``cmvn: speaker``
B's speakers, unknown to the bundle, do too). Scores go to ``EXP/cross/<name>/scores.json``,
apart from the in-corpus ``EXP/scores.json``.

Example::

    summary = score_cross_corpus("exp/iemocap_sa", "data/cremad/manifest.jsonl", features=["feats/cremad_logmel"])
    summary["mean"]["ua"], summary["skipped"]            # 0.43, 1271 (fear and disgust: outside iemocap4)
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from sertool.data.folds import read_folds
from sertool.data.labels import LabelSet, get_label_set
from sertool.data.manifest import Utterance, read_manifest
from sertool.errors import SertoolError
from sertool.evaluation.predict import aux_metrics, main_scores, predict
from sertool.evaluation.report import plot_confusion, pooled_scores, summarise_folds
from sertool.stage import atomic_write_json
from sertool.train.bundle import Bundle
from sertool.train.checkpoint import load_checkpoint
from sertool.train.config import SourceConfig
from sertool.train.data import Collator, UtteranceDataset
from sertool.train.distributed import resolve_device
from sertool.train.inputs import InputSpec
from sertool.train.runner import incomplete_folds, read_experiment_config
from sertool.train.sources import Item, Source, feature_spec

#: Where an experiment's cross-corpus scores go: ``EXP/cross/<name>/scores.json``.
CROSS_DIR = "cross"
NO_LABEL = "(none)"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def relabel(utts: list[Utterance], classes: list[str], model_set: LabelSet,
            label_set: LabelSet) -> tuple[list[Utterance], Counter]:
    """The utterances whose label ``label_set`` maps onto one of the model's ``classes``, relabelled so
    the model's own label set (``model_set``) reads that class; and the skipped ones' labels, counted.

    Example:
        >>> from sertool.data.labels import get_label_set
        >>> u = [Utterance(id=f"b/{i}", corpus="b", audio=f"/{i}.wav", duration=1.0, sample_rate=16000,
        ...                speaker="b/s", gender="F", language="en", session=None, style="acted", emotion=e)
        ...      for i, e in enumerate(["excited", "sad", "fear", None, "fear"])]
        >>> iemocap4 = get_label_set("iemocap4")
        >>> kept, skipped = relabel(u, list(iemocap4.labels), iemocap4, iemocap4)   # excited → happy
        >>> [x.emotion for x in kept], dict(skipped)
        (['happy', 'sad'], {'fear': 2, '(none)': 1})
        >>> kept, skipped = relabel(u, list(iemocap4.labels), iemocap4, get_label_set("emo4"))
        >>> [x.emotion for x in kept], skipped["excited"]                              # no merge in emo4
        (['sad'], 1)
    """
    kept: list[Utterance] = []
    skipped: Counter = Counter()
    for u in utts:
        value = getattr(u, label_set.field)
        label = label_set.label_of(value)
        if label is None or label not in classes:
            skipped[NO_LABEL if value is None else str(value)] += 1
            continue
        kept.append(dataclasses.replace(u, **{model_set.field: label}))
    return kept, skipped


def cross_name(manifest: Path, utts: list[Utterance]) -> str:
    """The default name of a test corpus: its ``corpus`` field when the manifest holds one corpus, else
    the manifest's folder name (``data/cremad/manifest.jsonl`` → ``cremad``).

    Example:
        >>> cross_name(Path("data/mix/manifest.jsonl"), [])
        'mix'
    """
    corpora = {u.corpus for u in utts}
    return corpora.pop() if len(corpora) == 1 else manifest.resolve().parent.name


def feature_dirs(specs: dict[str, InputSpec], features: list[str] | None) -> dict[str, str]:
    """Feature input name → the test corpus's feature directory, from ``DIR`` or ``NAME=DIR`` entries.

    Each directory must hold what the model was trained on: the same extractor with the same
    settings, frame shift and dimensions (the error names the extractor to run).
    """
    wanted = [name for name, spec in specs.items() if spec.source == "features"]
    given: dict[str, str] = {}
    for entry in features or []:
        name, sep, d = entry.rpartition("=")
        if not sep:
            if len(wanted) != 1:
                raise SertoolError(f"the model reads {len(wanted)} feature inputs ({', '.join(wanted) or 'none'}): "
                                   "give each as --features NAME=DIR")
            name, d = wanted[0], entry
        if name not in wanted:
            raise SertoolError(f"--features {entry}: the model has no feature input {name!r} "
                               f"(it reads {', '.join(wanted) or 'audio only'})")
        given[name] = d
    for name in wanted:
        spec = specs[name]
        d = given.get(name)
        what = f"{spec.extractor['name']} features" if spec.extractor else "features"
        if d is None:
            raise SertoolError(f"the model reads {what} (input {name!r}): extract them from the test manifest with "
                               f"`sertool features` and give the directory with --features")
        if not (Path(d) / "index.jsonl").is_file():
            raise SertoolError(f"--features {d}: not a feature directory (no index.jsonl; run `sertool features`)")
        _check_directory(spec, d)
    return {name: given[name] for name in wanted}


def _check_directory(spec: InputSpec, d: str) -> None:
    from sertool.features.storage import FeatureReader

    have = feature_spec(d)
    trained = spec.extractor["name"] if spec.extractor else None
    if trained is not None and have["name"] != trained:
        raise SertoolError(f"--features {d} holds {have['name']} features, but the model was trained on "
                           f"{trained}: extract the test corpus with --extractor {trained}")
    if spec.extractor is not None and have["conf"] != (spec.extractor.get("conf") or {}):
        raise SertoolError(f"--features {d}: {have['name']} extracted with other settings than the model's "
                           f"({have['conf']} vs {spec.extractor.get('conf') or {}})")
    reader = FeatureReader(d)
    dims = reader.dims if spec._transform is None else spec._transform.dims(reader.dims)
    if dims != spec.dims or (spec.frame_shift is not None and abs(reader.frame_shift - spec.frame_shift) > 1e-9):
        raise SertoolError(f"--features {d}: {reader.dims}-d frames every {reader.frame_shift * 1000:g} ms, but the "
                           f"model reads {spec.dims}-d every {(spec.frame_shift or 0) * 1000:g} ms")


def _fold_names(exp_dir: Path, cfg: Any, partial: bool) -> list[str]:
    _, folds = read_folds(cfg.data.folds)
    names = [f.name for f in folds]
    missing = incomplete_folds(exp_dir, cfg, names)
    if missing and not partial:
        listed = "; ".join(f"fold {k}: {v}" for k, v in list(missing.items())[:4])
        raise SertoolError(f"{exp_dir} is incomplete ({len(missing)} of {len(names)} folds: {listed}); finish "
                           "training, or score the trained folds with --partial")
    trained = [n for n in names if n not in missing]
    if not trained:
        raise SertoolError(f"no trained folds in {exp_dir} (run `sertool train` first)")
    return trained


def _score(bundle: Bundle, kept: list[Utterance], manifest: Path, dirs: dict[str, str], readers: dict[str, Any],
           device: torch.device) -> dict[str, Any]:
    model, main = bundle.model, bundle.main_task
    source = Source(SourceConfig(path=str(manifest)), kept, None, dirs)
    dataset = UtteranceDataset([Item(u, 0) for u in kept], [source], model.tasks, bundle.model_inputs(readers))
    loader = DataLoader(dataset, batch_size=bundle.cfg.train.batch_size, collate_fn=Collator(model.tasks))
    pred = predict(model, loader, device)
    scores = main_scores(model, pred, main)
    # auxiliary heads whose labels the test corpus carries (gender, intensity, phones) are scored too
    scores["aux"] = aux_metrics(model, pred, [t for t in model.tasks if t != main])
    return scores


def score_cross_corpus(exp_dir: str | Path, manifest: str | Path, features: list[str] | None = None,
                       label_set: str | None = None, name: str | None = None, checkpoint: str = "best",
                       partial: bool = False) -> dict[str, Any]:
    """Score every trained fold's model on all of ``manifest``; write ``EXP/cross/<name>/scores.json``.

    Returns the summary: ``folds`` (each model's WA, UA, UAi where applicable, per-class recall,
    confusion), ``mean``/``std`` over them, ``pooled``, and what was scored: ``utterances``,
    ``scored``, ``skipped`` and ``skipped_labels`` (label → count; ``(none)`` for no label),
    ``label_set``, ``speaker_independent`` (no test speaker among any fold's training speakers).
    """
    if checkpoint not in ("best", "last"):
        raise SertoolError(f"--checkpoint must be best or last, got {checkpoint!r}")
    exp_dir, manifest = Path(exp_dir), Path(manifest).resolve()
    cfg = read_experiment_config(exp_dir)
    names = _fold_names(exp_dir, cfg, partial)
    utts = read_manifest(manifest)
    name = name or cross_name(manifest, utts)
    if not _NAME.match(name):
        raise SertoolError(f"--name {name!r}: use letters, digits, '.', '_', '+' and '-' (it names a folder)")
    device = resolve_device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)

    first = Bundle.load(exp_dir / f"fold-{names[0]}" / "checkpoints" / "best.pt", device)
    task = first.model.tasks[first.main_task]
    if not hasattr(task, "label_set"):
        raise SertoolError(f"cross-corpus scoring maps emotion labels, but the main task {first.main_task!r} is a "
                           f"{task.kind} task")
    classes = list(task.labels)
    mapping = get_label_set(label_set) if label_set else task.label_set
    unknown = [c for c in mapping.labels if c not in classes]
    if unknown:
        raise SertoolError(f"label set {mapping.name} has class(es) the model does not predict: {', '.join(unknown)} "
                           f"(the model's: {', '.join(classes)})")
    kept, skipped = relabel(utts, classes, task.label_set, mapping)
    if not kept:
        raise SertoolError(f"no utterance of {manifest} has an emotion label in {mapping.name} "
                           f"({', '.join(mapping.labels)})")
    dirs = feature_dirs(first.specs, features)
    from sertool.features.storage import FeatureReader

    readers = {d: FeatureReader(d) for d in set(dirs.values())}
    speakers = {u.speaker for u in kept}
    results: dict[str, Any] = {}
    for fold in names:
        ckpt = exp_dir / f"fold-{fold}" / "checkpoints"
        bundle = first if fold == names[0] else Bundle.load(ckpt / "best.pt", device)
        if checkpoint == "last":
            bundle.model.load_state_dict(load_checkpoint(ckpt / "last.pt", device)["model"])
        scores = _score(bundle, kept, manifest, dirs, readers, device)
        scores.update({"fold": fold, "checkpoint": checkpoint, "epoch": bundle.epoch,
                       "leaking_speakers": len(speakers & set(bundle.train_speakers))})
        results[fold] = scores
    summary = summarise_folds(results)
    _, all_folds = read_folds(cfg.data.folds)
    missing = {f.name: "not trained" for f in all_folds if f.name not in results}
    summary.update({
        "test": str(manifest), "name": name, "label_set": mapping.name, "utterances": len(utts),
        "scored": len(kept), "skipped": sum(skipped.values()), "skipped_labels": dict(skipped.most_common()),
        "checkpoint": checkpoint, "complete": not missing, "protocol": "cross-corpus",
        "speaker_independent": not any(s["leaking_speakers"] for s in results.values()),
    })
    if missing:
        summary["missing_folds"] = missing
    out = exp_dir / CROSS_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    pooled = pooled_scores(results)
    if pooled is not None:
        summary["pooled"] = pooled
        plot_confusion(pooled["confusion"], pooled["labels"], out / "confusion.png",
                       title=f"{name}, {len(results)} models pooled: WA {100 * pooled['wa']:.1f}%, "
                             f"UA {100 * pooled['ua']:.1f}%")
    atomic_write_json(out / "scores.json", summary)
    return summary


def skipped_line(summary: dict[str, Any]) -> str:
    """One line saying how many test utterances were skipped, and why.

    Example:
        >>> skipped_line({"utterances": 10, "scored": 7, "skipped": 3, "label_set": "emo4", "name": "b",
        ...               "skipped_labels": {"surprise": 2, "(none)": 1}})
        'b: scored 7 of 10 utterances; skipped 3 (labels outside emo4: surprise 2; no label: 1)'
    """
    if not summary["skipped"]:
        return f"{summary['name']}: scored all {summary['scored']} utterances (labels mapped through " \
               f"{summary['label_set']})"
    labels = summary["skipped_labels"]
    outside = "; ".join(f"{k} {v}" for k, v in labels.items() if k != NO_LABEL)
    why = ([f"labels outside {summary['label_set']}: {outside}"] if outside else []) + \
          ([f"no label: {labels[NO_LABEL]}"] if NO_LABEL in labels else [])
    return (f"{summary['name']}: scored {summary['scored']} of {summary['utterances']} utterances; "
            f"skipped {summary['skipped']} ({'; '.join(why)})")
