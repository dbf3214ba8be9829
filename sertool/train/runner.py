"""Experiments: train every fold, then evaluate every fold (``sertool train`` / ``sertool eval``).

Layout (DESIGN.md)::

    EXP/config.yaml                     resolved configuration
    EXP/fold-<name>/checkpoints/last.pt resume point
    EXP/fold-<name>/checkpoints/best.pt best dev UA, a self-contained model bundle
    EXP/fold-<name>/train_log.csv       one row per epoch (and fold-<name>/tensorboard/)
    EXP/fold-<name>/scores.json         written by eval, with confusion.png
    EXP/scores.json                     every fold, mean ± std

Under ``torchrun`` every process runs :func:`train_experiment`; rank 0 alone writes files.

Example::

    train_experiment(load_config("conf/sa_cnn_blstm.yaml"), Path("exp/sa_cnn_blstm"))
    evaluate_experiment(Path("exp/sa_cnn_blstm"))["mean"]["ua"]     # 0.71
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import traceback
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.data import DataLoader

from sertool.console import console
from sertool.data.folds import read_folds
from sertool.errors import SertoolError, os_error_line
from sertool.evaluation.predict import aux_metrics, main_scores, per_corpus_scores, predict
from sertool.evaluation.report import corpus_average, plot_confusion, pooled_scores, summarise_folds
from sertool.processes import die_with_parent
from sertool.stage import StageMarker, atomic_write_json, output_lock
from sertool.train.bundle import Bundle
from sertool.train.checkpoint import load_checkpoint
from sertool.train.config import ExperimentConfig, build_config, save_config, with_absolute_paths
from sertool.train.data import Collator, UtteranceDataset
from sertool.train.distributed import barrier, init_distributed, resolve_device, shutdown_distributed
from sertool.train.init_from import source_bundle
from sertool.train.sources import ExperimentData, load_experiment_data, resolve_inputs
from sertool.train.trainer import LAST_META, FoldTrainer, in_experiment, labelled

# Settings that may change between a run and its resumption without changing what it computes.
RESUMABLE_CHANGES = {"train.epochs", "train.patience", "train.device", "train.threads", "data.num_workers",
                     "train.checkpoint_every_steps", "train.tensorboard"}


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


def experiment_inputs(cfg: ExperimentConfig, folds: list[str] | None = None) -> list[Path]:
    """The files an experiment depends on (hashed into its ``.done`` marker): manifests, folds,
    feature indexes, and the bundles ``init_from`` starts the selected ``folds`` from (a retrained
    source makes the experiment stale)."""
    sources = cfg.data.sources()
    paths = [Path(s.path) for s in sources] + [Path(cfg.data.folds)] + [Path(s.folds) for s in sources if s.folds]
    inputs = resolve_inputs(cfg)
    for src in sources:
        for name, inp in inputs.items():
            if not inp.audio:
                d = (src.inputs or {}).get(name) or (src.features if len(inputs) == 1 else None) or inp.features
                if d:
                    paths.append(Path(d) / "index.jsonl")
    if cfg.init_from is not None and cfg.init_from.exp:
        names = folds or ([f.name for f in read_folds(cfg.data.folds)[1]] if Path(cfg.data.folds).is_file() else [])
        paths += [source_bundle(cfg.init_from.exp, name) for name in names]
    return list(dict.fromkeys(paths))


def train_experiment(cfg: ExperimentConfig, exp_dir: Path, folds: list[str] | None = None,
                     force: bool = False, jobs: int = 1) -> dict[str, Any]:
    """Train the selected folds (all by default); rerunning resumes or skips finished folds.

    Data paths are made absolute (against the working directory) before the configuration is
    saved, so ``sertool eval EXP`` works from anywhere; one process at a time writes ``EXP``.
    ``jobs`` > 1 trains that many folds at once, each in its own process (:func:`fit_folds_in_parallel`).
    """
    if jobs < 1:
        raise SertoolError(f"--jobs must be at least 1, got {jobs}")
    cfg = with_absolute_paths(cfg)
    info = init_distributed(cfg.train.device)
    try:
        if info.distributed and jobs > 1:
            raise SertoolError("--jobs trains folds side by side in one machine's processes; under torchrun "
                               "every process already trains the same fold: leave --jobs at 1")
        with output_lock(exp_dir, "train") if info.is_main else contextlib.nullcontext():
            return _train_experiment(cfg, Path(exp_dir), folds, force, info, jobs)
    finally:
        shutdown_distributed()


def _train_experiment(cfg: ExperimentConfig, exp_dir: Path, folds: list[str] | None, force: bool, info,
                      jobs: int = 1) -> dict:
    say = console.print if info.is_main else (lambda *_a, **_k: None)
    inputs = experiment_inputs(cfg, folds)
    for p in inputs:
        if not p.is_file():
            raise SertoolError(f"training input not found: {p}")
    marker = StageMarker(exp_dir, {"config": cfg.to_dict(), "folds": sorted(folds or [])}, inputs)
    if force:
        if info.is_main:
            for d in exp_dir.glob("fold-*"):
                shutil.rmtree(d)
            marker.clear()
    elif marker.is_done():
        say(f"train: {exp_dir} is up to date (use --force to retrain)")
        return {}
    else:
        _check_same_experiment(cfg, exp_dir)
    if info.is_main:
        exp_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, exp_dir / "config.yaml")
    barrier(info)

    data = load_experiment_data(cfg)
    unknown = set(folds or []) - {f.name for f in data.folds}
    if unknown:
        raise SertoolError(f"unknown fold(s) {', '.join(sorted(unknown))} "
                           f"(folds: {', '.join(f.name for f in data.folds)})")
    selected = [i for i, f in enumerate(data.folds) if not folds or f.name in folds]
    jobs = min(jobs, len(selected))
    procs = (f", {info.world_size} processes" if info.distributed
             else f", {jobs} folds at a time" if jobs > 1 else "")
    names = [data.folds[i].name for i in selected]
    # The first fold's checks (inputs, labels) run before anything is said, so a refusal is one line.
    trainer: FoldTrainer | None = FoldTrainer(cfg, data, selected[0], exp_dir / f"fold-{names[0]}", info, log=say)
    say(f"train: {len(selected)} fold(s) of {data.protocol} → {exp_dir} ({info.device}{procs})")
    if not data.speaker_independent:
        shared = ", ".join(f"{k}: {v}" for k, v in data.leaking.items() if v)
        say(f"train: speaker-dependent folds ({data.protocol}): speakers in both training and test "
            f"({shared}); scores will be flagged")
    if jobs > 1:
        trainer = None
        results = fit_folds_in_parallel(cfg, exp_dir, names, jobs)
    else:
        results = {}
        for i, name in zip(selected, names):
            trainer = trainer or FoldTrainer(cfg, data, i, exp_dir / f"fold-{name}", info, log=say)
            results[name] = trainer.fit()
            trainer = None  # one fold's model and data in memory at a time
    barrier(info)
    if info.is_main:
        marker.mark_done(folds=results)
    return results


def _fit_fold_process(cfg: ExperimentConfig, exp_dir: Path, fold: str, threads: int, parent_pid: int,
                      conn: Connection) -> None:
    """One fold in a worker process (spawned): load the data, train, send back the best epoch's record
    or the error's one line."""
    die_with_parent(parent_pid)
    torch.set_num_threads(cfg.train.threads or threads)
    try:
        data = load_experiment_data(cfg)
        info = init_distributed(cfg.train.device)
        trainer = FoldTrainer(cfg, data, data.fold_index(fold), exp_dir / f"fold-{fold}", info, log=console.print)
        conn.send(("ok", trainer.fit()))
    except SertoolError as e:  # the user's to fix: one line, as the CLI prints it
        conn.send(("error", str(e)))
    except OSError as e:
        conn.send(("error", os_error_line(e)))
    except BaseException as e:  # a bug, or an interrupt: its traceback on this process's stderr too
        conn.send(("error", "".join(traceback.format_exception_only(e)).strip()))
        raise


def fit_folds_in_parallel(cfg: ExperimentConfig, exp_dir: Path, folds: list[str], jobs: int) -> dict[str, Any]:
    """Train ``folds`` with up to ``jobs`` worker processes at once; the fold → best-epoch record.

    Each fold trains in a spawned process of its own (a fresh interpreter: no forked HDF5 handles or
    thread pools) with ``train.threads`` threads, by default the cores shared out, so N jobs use the
    machine's cores once; training a fold there gives the weights it gets in-process (the seeds are
    per fold). Workers die with this process. The first failing fold stops the others (their
    checkpoints stay: rerunning resumes) and is raised here as a one-line error.
    """
    ctx = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // jobs)
    pending, running, results = list(folds), {}, {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                fold = pending.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_fit_fold_process, name=f"sertool-train-fold-{fold}",
                                   args=(cfg, exp_dir, fold, threads, os.getpid(), send))
                proc.start()
                send.close()  # the child holds the only writing end: EOF once it exits
                running[proc.sentinel] = (fold, proc, receive)
            for sentinel in wait(list(running)):
                fold, proc, receive = running.pop(sentinel)
                proc.join()
                status, value = receive.recv() if receive.poll() else ("error", None)
                receive.close()
                if status != "ok":
                    why = value or f"its training process ended with exit code {proc.exitcode}"
                    raise SertoolError(f"fold {fold}: {why}")
                results[fold] = value
    finally:
        for _fold, proc, _receive in running.values():
            proc.terminate()
        for _fold, proc, _receive in running.values():
            proc.join()
    return {fold: results[fold] for fold in folds}


def _score_fold(data: ExperimentData, fold_index: int, bundle: Bundle, split: str, device) -> dict[str, Any]:
    model, main = bundle.model, bundle.main_task
    name = data.folds[fold_index].name
    items = in_experiment(data.items(fold_index, split), data.sources, model, main)
    if not labelled(items, data.sources, model, [main]):
        raise SertoolError(f"fold {name}: its {split} set has no utterance with a {main} label")
    dataset = UtteranceDataset(items, data.sources, model.tasks, bundle.model_inputs(data.readers))
    loader = DataLoader(dataset, batch_size=bundle.cfg.train.batch_size, collate_fn=Collator(model.tasks))
    pred = predict(model, loader, device)
    scores = main_scores(model, pred, main)
    scores["aux"] = aux_metrics(model, pred, [t for t in model.tasks if t != main])
    by_corpus = per_corpus_scores(model.tasks[main], pred[main])
    if len(by_corpus) > 1:  # e.g. acted and spontaneous corpora tested together (selective_mtl.txt Tables 4, 5)
        scores["per_corpus"] = by_corpus
    return scores


def read_experiment_config(exp_dir: Path) -> ExperimentConfig:
    path = Path(exp_dir) / "config.yaml"
    if not path.is_file():
        raise SertoolError(f"{exp_dir} is not an experiment directory (no config.yaml; run `sertool train` first)")
    try:
        return build_config(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as e:
        raise SertoolError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None


def fold_progress(fold_dir: Path) -> dict[str, Any] | None:
    """``{"epoch", "epochs", "stopped_early"}`` of a fold's last checkpoint (None: never checkpointed)."""
    ckpt = fold_dir / "checkpoints"
    try:
        return json.loads((ckpt / LAST_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    if not (ckpt / "last.pt").is_file():
        return None
    state = load_checkpoint(ckpt / "last.pt")  # written before last.json existed
    return {"epoch": state["epoch"], "epochs": None, "stopped_early": state["stopped_early"]}


def incomplete_folds(exp_dir: Path, cfg: ExperimentConfig, names: list[str]) -> dict[str, str]:
    """Fold → why it cannot be scored as a finished fold (missing, or stopped before its last epoch)."""
    out = {}
    for name in names:
        d = exp_dir / f"fold-{name}"
        progress = fold_progress(d)
        if not (d / "checkpoints" / "best.pt").is_file() or progress is None:
            out[name] = "not trained"
        elif progress["epoch"] < cfg.train.epochs and not progress["stopped_early"]:
            out[name] = f"stopped after epoch {progress['epoch']} of {cfg.train.epochs}"
    return out


def scorable_folds(exp_dir: Path, cfg: ExperimentConfig, names: list[str], partial: bool) -> dict[str, str]:
    """The folds that cannot be scored (:func:`incomplete_folds`): refused unless ``partial``, and
    refused when no fold is trained."""
    missing = incomplete_folds(exp_dir, cfg, names)
    if missing and not partial:
        listed = "; ".join(f"fold {k}: {v}" for k, v in list(missing.items())[:4])
        raise SertoolError(f"{exp_dir} is incomplete ({len(missing)} of {len(names)} folds: {listed}); finish "
                           "training (rerun `sertool train`), or score what exists with --partial")
    if len(missing) == len(names):
        raise SertoolError(f"no trained folds in {exp_dir} (run `sertool train` first)")
    return missing


def evaluate_experiment(exp_dir: Path, checkpoint: str = "best", split: str = "test",
                        partial: bool = False) -> dict[str, Any]:
    """Score each fold's checkpoint on its test (or dev) set; write scores.json files and plots.

    An experiment with a fold missing or stopped before its last epoch is refused unless
    ``partial``: then the finished folds are scored and the summary says ``"complete": false``.
    """
    if checkpoint not in ("best", "last"):
        raise SertoolError(f"--checkpoint must be best or last, got {checkpoint!r}")
    if split not in ("test", "dev"):
        raise SertoolError(f"--split must be test or dev, got {split!r}")
    exp_dir = Path(exp_dir)
    cfg = read_experiment_config(exp_dir)
    data = load_experiment_data(cfg)
    names = [f.name for f in data.folds]
    missing = scorable_folds(exp_dir, cfg, names, partial)
    device = resolve_device(cfg.train.device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    flags = {"speaker_independent": data.speaker_independent, "protocol": data.protocol}
    results: dict[str, Any] = {}
    for name in names:
        if name in missing:
            continue
        d = exp_dir / f"fold-{name}"
        bundle = Bundle.load(d / "checkpoints" / "best.pt", device)
        if checkpoint == "last":
            bundle.model.load_state_dict(load_checkpoint(d / "checkpoints" / "last.pt", device)["model"])
        scores = _score_fold(data, data.fold_index(name), bundle, split, device)
        scores.update({"fold": name, "split": split, "checkpoint": checkpoint, "epoch": bundle.epoch,
                       **flags, "leaking_speakers": data.leaking.get(name, 0)})
        atomic_write_json(d / "scores.json", scores)
        plot_confusion(scores["confusion"], scores["labels"], d / "confusion.png",
                       title=f"fold {name} ({split}): WA {100 * scores['wa']:.1f}%, UA {100 * scores['ua']:.1f}%")
        results[name] = scores
    summary = summarise_folds(results)
    summary.update({"split": split, "checkpoint": checkpoint, "complete": not missing, **flags})
    pooled = pooled_scores(results)
    if pooled is not None:
        summary["pooled"] = pooled
        plot_confusion(pooled["confusion"], pooled["labels"], exp_dir / "confusion.png",
                       title=f"all folds pooled ({split}): WA {100 * pooled['wa']:.1f}%, UA {100 * pooled['ua']:.1f}%")
    corpora = corpus_average(results)
    if corpora is not None:
        summary["corpora"] = corpora
    if missing:
        summary["missing_folds"] = missing
    atomic_write_json(exp_dir / "scores.json", summary)
    return summary
