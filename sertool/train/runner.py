"""Experiments: train every fold, then evaluate every fold (``sertool train`` / ``sertool eval``).

Layout (DESIGN.md)::

    EXP/config.yaml                     resolved configuration
    EXP/fold-<name>/checkpoints/last.pt resume point
    EXP/fold-<name>/checkpoints/best.pt best dev UA, a self-contained model bundle
    EXP/fold-<name>/train_log.csv       one row per epoch
    EXP/fold-<name>/scores.json         written by eval, with confusion.png
    EXP/scores.json                     every fold, mean ± std

Example:
    >>> train_experiment(load_config("conf/sa_cnn_blstm.yaml"), Path("exp/sa_cnn_blstm"))
    >>> evaluate_experiment(Path("exp/sa_cnn_blstm"))["mean"]["ua"]
    0.71
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from torch.utils.data import DataLoader

from sertool.cli.common import console
from sertool.data.folds import read_folds
from sertool.data.manifest import Utterance, read_manifests
from sertool.errors import SertoolError
from sertool.evaluation.report import plot_confusion, summarise_folds
from sertool.stage import StageMarker, atomic_write_json
from sertool.train.checkpoint import load_checkpoint
from sertool.train.config import ExperimentConfig, build_config, save_config
from sertool.train.data import Collator, UtteranceDataset
from sertool.train.trainer import (
    FoldTrainer, build_model, build_normaliser, max_frames, predict, resolve_device, task_scores,
)

# Settings that may change between a run and its resumption without invalidating checkpoints.
RESUMABLE_CHANGES = {"train.epochs", "train.patience", "train.device", "train.threads", "data.num_workers"}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k not in ("tasks",):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _check_same_experiment(cfg: ExperimentConfig, exp_dir: Path) -> None:
    saved_path = exp_dir / "config.yaml"
    if not saved_path.is_file():
        return
    saved = _flatten(build_config(yaml.safe_load(saved_path.read_text(encoding="utf-8"))).to_dict())
    now = _flatten(cfg.to_dict())
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in RESUMABLE_CHANGES)
    if changed:
        raise SertoolError(f"{exp_dir} holds an experiment with other settings ({', '.join(changed[:4])}); "
                           "use another --exp-dir, or --force to start over")


def _load_data(cfg: ExperimentConfig):
    from sertool.features.cmvn import Cmvn
    from sertool.features.storage import FeatureReader

    protocol, folds = read_folds(cfg.data.folds)
    utts = {u.id: u for u in read_manifests(cfg.data.manifests)}
    reader = FeatureReader(cfg.data.features)
    return protocol, folds, utts, reader, Cmvn.load(cfg.data.features)


def feature_spec(features_dir: str | Path) -> dict[str, Any]:
    """The extractor's name and resolved settings, stored in each model bundle for inference."""
    from sertool.features.extractors import CONFIG_NAME

    path = Path(features_dir) / CONFIG_NAME
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(saved, dict) or "extractor" not in saved:
        raise SertoolError(f"{path} does not name an extractor: rerun `sertool features`")
    return {"name": saved["extractor"], "conf": saved.get("conf") or {}}


def train_experiment(cfg: ExperimentConfig, exp_dir: Path, folds: list[str] | None = None,
                     force: bool = False) -> dict[str, Any]:
    """Train the selected folds (all by default); rerunning resumes or skips finished folds."""
    exp_dir = Path(exp_dir)
    inputs = [*cfg.data.manifests, cfg.data.folds, Path(cfg.data.features) / "index.jsonl"]
    for p in inputs:
        if not Path(p).is_file():
            raise SertoolError(f"training input not found: {p}")
    marker = StageMarker(exp_dir, {"config": cfg.to_dict(), "folds": sorted(folds or [])}, inputs)
    if force:
        for d in exp_dir.glob("fold-*"):
            shutil.rmtree(d)
        marker.clear()
    elif marker.is_done():
        console.print(f"train: {exp_dir} is up to date (use --force to retrain)")
        return {}
    else:
        _check_same_experiment(cfg, exp_dir)
    exp_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, exp_dir / "config.yaml")

    protocol, all_folds, utts, reader, cmvn = _load_data(cfg)
    selected = [f for f in all_folds if not folds or f.name in folds]
    unknown = set(folds or []) - {f.name for f in all_folds}
    if unknown:
        raise SertoolError(f"unknown fold(s) {', '.join(sorted(unknown))} (folds: {', '.join(f.name for f in all_folds)})")
    spec = feature_spec(cfg.data.features)
    console.print(f"train: {len(selected)} fold(s) of {protocol} → {exp_dir}")
    results = {}
    for fold in selected:
        trainer = FoldTrainer(cfg, fold, utts, reader, exp_dir / f"fold-{fold.name}", spec, cmvn)
        results[fold.name] = trainer.fit(log=console.print)
    marker.mark_done(folds={k: v for k, v in results.items()})
    return results


def fold_dirs(exp_dir: Path) -> list[Path]:
    dirs = sorted(d for d in Path(exp_dir).glob("fold-*") if (d / "checkpoints").is_dir())
    if not dirs:
        raise SertoolError(f"no trained folds in {exp_dir} (run `sertool train` first)")
    return dirs


def load_bundle_model(bundle: dict[str, Any], device):
    """Rebuild a bundle's model with its weights, in eval mode."""
    cfg = build_config(bundle["config"])
    model = build_model(cfg)
    model.load_state_dict(bundle["model"])
    return cfg, model.to(device).eval()


def evaluate_experiment(exp_dir: Path, checkpoint: str = "best", split: str = "test") -> dict[str, Any]:
    """Score each fold's checkpoint on its test (or dev) set; write scores.json files and plots."""
    if checkpoint not in ("best", "last"):
        raise SertoolError(f"--checkpoint must be best or last, got {checkpoint!r}")
    if split not in ("test", "dev"):
        raise SertoolError(f"--split must be test or dev, got {split!r}")
    exp_dir = Path(exp_dir)
    dirs = fold_dirs(exp_dir)
    cfg = build_config(yaml.safe_load((exp_dir / "config.yaml").read_text(encoding="utf-8")))
    _, all_folds, utts, reader, cmvn = _load_data(cfg)
    by_name = {f.name: f for f in all_folds}
    device = resolve_device(cfg.train.device)
    results: dict[str, Any] = {}
    for d in dirs:
        name = d.name.removeprefix("fold-")
        best = load_checkpoint(d / "checkpoints" / "best.pt", device)
        _, model = load_bundle_model(best, device)
        if checkpoint == "last":
            model.load_state_dict(load_checkpoint(d / "checkpoints" / "last.pt", device)["model"])
        main = cfg.train.main_task
        ids = getattr(by_name[name], split)
        eval_utts = [utts[i] for i in ids if i in utts and model.tasks[main].encode(utts[i]) is not None]
        if not eval_utts:
            raise SertoolError(f"fold {name}: its {split} set has no utterance with a {main} label")
        norm = build_normaliser(cfg, cmvn, set(best["train_speakers"]))
        dataset = UtteranceDataset(reader, eval_utts, model.tasks, norm, max_frames(cfg, reader.frame_shift))
        loader = DataLoader(dataset, batch_size=cfg.train.batch_size, collate_fn=Collator(model.tasks))
        pred = predict(model, loader, device)
        scores = task_scores(model, pred, main)
        scores.update({"fold": name, "split": split, "checkpoint": checkpoint, "epoch": best["epoch"],
                       "aux": {}})
        for task in model.tasks:
            if task != main:
                aux = task_scores(model, pred, task)
                if aux is not None:
                    scores["aux"][f"{task}_acc"] = aux["wa"]
        atomic_write_json(d / "scores.json", scores)
        plot_confusion(scores["confusion"], scores["labels"], d / "confusion.png",
                       title=f"fold {name} ({split}): WA {100 * scores['wa']:.1f}%, UA {100 * scores['ua']:.1f}%")
        results[name] = scores
    summary = summarise_folds(results)
    summary.update({"split": split, "checkpoint": checkpoint})
    atomic_write_json(exp_dir / "scores.json", summary)
    return summary
