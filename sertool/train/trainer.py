"""Training one fold: epochs, validation, logging, checkpoints, resume.

:class:`FoldTrainer` trains the multi-task model on a fold's training utterances, scores the
main task on the dev set after every epoch, keeps ``best.pt`` (highest dev UA) and ``last.pt``
(resume point) and rewrites ``train_log.csv`` from the history stored in the checkpoint, so
the log always matches what a resumed run continues from.

Example:
    >>> trainer = FoldTrainer(cfg, fold, utts_by_id, reader, exp_dir / "fold-1", feature_spec)
    >>> trainer.fit()          # rerunning resumes from fold-1/checkpoints/last.pt
"""

from __future__ import annotations

import csv
import io
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from sertool.data.folds import Fold
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.evaluation.metrics import classification_scores
from sertool.models.multitask import MultiTaskModel
from sertool.stage import atomic_write_text
from sertool.tasks import build_weighting
from sertool.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sertool.train.config import ExperimentConfig
from sertool.train.data import Collator, Normaliser, UtteranceDataset


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SertoolError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_model(cfg: ExperimentConfig) -> MultiTaskModel:
    return MultiTaskModel.build(cfg.model.encoder, cfg.model.encoder_conf, cfg.tasks)


def build_normaliser(cfg: ExperimentConfig, cmvn: Any, train_speakers: set[str]) -> Normaliser:
    """Normalisation statistics that never look at test speakers (unless ``cmvn: global``)."""
    mode = cfg.data.cmvn
    if mode == "none":
        return Normaliser.identity(cmvn.dims)
    if mode == "train":
        return Normaliser(*cmvn.pooled(sorted(train_speakers)))
    if mode == "global":
        return Normaliser(*cmvn.pooled(None))
    if mode == "speaker":
        per = {spk: cmvn.pooled([spk]) for spk in cmvn.speakers}
        return Normaliser(*cmvn.pooled(sorted(train_speakers)), per_speaker=per)
    raise SertoolError(f"config: data.cmvn must be train, global, speaker or none, got {mode!r}")


def max_frames(cfg: ExperimentConfig, frame_shift: float) -> int | None:
    return None if cfg.data.max_seconds is None else max(1, int(round(cfg.data.max_seconds / frame_shift)))


@torch.no_grad()
def predict(model: MultiTaskModel, loader: DataLoader, device: torch.device) -> dict[str, Any]:
    """Run ``model`` over a loader: per task the predicted and reference class ids, and mean losses."""
    model.eval()
    out: dict[str, Any] = {name: {"pred": [], "ref": []} for name in model.tasks}
    loss_sums = {name: 0.0 for name in model.tasks}
    loss_counts = {name: 0 for name in model.tasks}
    ids: list[str] = []
    for batch in loader:
        preds = model(batch["feats"].to(device), batch["lengths"].to(device))
        ids.extend(batch["ids"])
        for name, task in model.tasks.items():
            labels = {k: v.to(device) for k, v in batch["labels"][name].items()}
            loss = task.loss(preds[name], labels)
            if loss is not None:
                n = int((labels["target"] >= 0).sum()) if "target" in labels else len(batch["ids"])
                loss_sums[name] += float(loss) * n
                loss_counts[name] += n
            if preds[name].ndim == 2 and "target" in labels:  # utterance-level classification
                out[name]["pred"].extend(preds[name].argmax(-1).tolist())
                out[name]["ref"].extend(labels["target"].tolist())
    out["_ids"] = ids
    out["_loss"] = {k: loss_sums[k] / loss_counts[k] for k in loss_sums if loss_counts[k]}
    return out


def task_scores(model: MultiTaskModel, predictions: dict[str, Any], task: str) -> dict[str, Any] | None:
    """Classification scores of one task over the items that carry its label."""
    p = predictions[task]
    pairs = [(r, q) for r, q in zip(p["ref"], p["pred"]) if r >= 0]
    if not pairs:
        return None
    ref, pred = zip(*pairs)
    return classification_scores(ref, pred, model.tasks[task].describe()["labels"])


class FoldTrainer:
    """Train, validate and checkpoint the model of one fold."""

    def __init__(self, cfg: ExperimentConfig, fold: Fold, utts: dict[str, Utterance], reader: Any,
                 fold_dir: Path, feature_spec: dict[str, Any], cmvn: Any):
        self.cfg = cfg
        self.fold = fold
        self.fold_dir = Path(fold_dir)
        self.ckpt_dir = self.fold_dir / "checkpoints"
        self.feature_spec = feature_spec
        self.device = resolve_device(cfg.train.device)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)

        seed_everything(cfg.train.seed)
        self.model = build_model(cfg).to(self.device)
        main = self.model.tasks[cfg.train.main_task]
        # Only utterances carrying the main task's label are trained on and scored.
        select = lambda ids: [utts[i] for i in ids if i in utts and main.encode(utts[i]) is not None]  # noqa: E731
        self.train_utts, self.dev_utts = select(fold.train), select(fold.dev)
        if not self.train_utts:
            raise SertoolError(f"fold {fold.name}: no training utterance carries a {cfg.train.main_task} label")
        self.normaliser = build_normaliser(cfg, cmvn, {u.speaker for u in self.train_utts})
        limit = max_frames(cfg, reader.frame_shift)
        self.collate = Collator(self.model.tasks)
        self.train_set = UtteranceDataset(reader, self.train_utts, self.model.tasks, self.normaliser, limit)
        self.dev_set = UtteranceDataset(reader, self.dev_utts, self.model.tasks, self.normaliser, limit)

        self.weighting = build_weighting(cfg.weighting.get("name", "fixed"), cfg.task_weights(),
                                         {k: v for k, v in cfg.weighting.items() if k != "name"}).to(self.device)
        params = list(self.model.parameters()) + list(self.weighting.parameters())
        o = cfg.optim
        if o.name == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas),
                                                                     weight_decay=o.weight_decay)
        elif o.name == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        else:
            raise SertoolError(f"config: optim.name must be adam or adamw, got {o.name!r}")
        # Keras' "decay": lr_t = lr / (1 + decay · t), t counting updates (sa_cnn_blstm.txt §5.1).
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda t: 1.0 / (1.0 + o.lr_decay * t))

        self.epoch = 0
        self.stopped_early = False
        self.best: dict[str, Any] = {"epoch": -1, "ua": -1.0}
        self.history: list[dict[str, Any]] = []

    # -- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "weighting": self.weighting.state_dict(),
            "epoch": self.epoch,
            "stopped_early": self.stopped_early,
            "best": self.best,
            "history": self.history,
            "rng": rng_state(),
        }

    def _restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.weighting.load_state_dict(state["weighting"])
        self.epoch, self.best, self.history = state["epoch"], state["best"], state["history"]
        self.stopped_early = state["stopped_early"]
        set_rng_state(state["rng"])

    def bundle(self, dev_ua: float) -> dict[str, Any]:
        """The self-contained model bundle saved as ``best.pt``."""
        return {
            "model": self.model.state_dict(),
            "config": self.cfg.to_dict(),
            "features": self.feature_spec,
            "normaliser": {"mean": torch.from_numpy(np.asarray(self.normaliser.mean, np.float32)),
                           "std": torch.from_numpy(np.asarray(self.normaliser.std, np.float32))},
            "tasks": {name: {"type": self.cfg.tasks[name].get("type", name), **task.describe()}
                      for name, task in self.model.tasks.items()},
            "train_speakers": sorted({u.speaker for u in self.train_utts}),
            "fold": self.fold.name,
            "epoch": self.epoch,
            "dev_ua": dev_ua,
        }

    # -- loops -----------------------------------------------------------------------------
    def _loader(self, dataset: UtteranceDataset, shuffle: bool, epoch: int = 0) -> DataLoader:
        # A generator seeded by (seed, epoch) gives the same order whether or not the run resumed.
        gen = torch.Generator().manual_seed(self.cfg.train.seed * 100_003 + epoch)
        return DataLoader(dataset, batch_size=self.cfg.train.batch_size, shuffle=shuffle, generator=gen,
                          collate_fn=self.collate, num_workers=self.cfg.data.num_workers)

    def _train_epoch(self) -> dict[str, float]:
        self.model.train()
        sums: dict[str, float] = {}
        weights_seen: dict[str, float] = {}
        batches = 0
        for batch in self._loader(self.train_set, shuffle=True, epoch=self.epoch):
            preds = self.model(batch["feats"].to(self.device), batch["lengths"].to(self.device))
            losses = {}
            for name, task in self.model.tasks.items():
                labels = {k: v.to(self.device) for k, v in batch["labels"][name].items()}
                loss = task.loss(preds[name], labels)
                if loss is not None:
                    losses[name] = loss
            total, weights = self.weighting(losses)
            if not torch.isfinite(total):
                raise SertoolError(f"fold {self.fold.name}: loss became {float(total)} at epoch {self.epoch + 1}; "
                                   "lower optim.lr or check the features")
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            if self.cfg.optim.grad_clip_value is not None:
                torch.nn.utils.clip_grad_value_(self.model.parameters(), self.cfg.optim.grad_clip_value)
            if self.cfg.optim.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip_norm)
            self.optimizer.step()
            self.scheduler.step()
            batches += 1
            sums["loss"] = sums.get("loss", 0.0) + total.item()
            for name, loss in losses.items():
                sums[f"loss_{name}"] = sums.get(f"loss_{name}", 0.0) + loss.item()
            weights_seen.update(weights)
        row = {k: v / batches for k, v in sums.items()}
        row.update({f"weight_{k}": float(v) for k, v in weights_seen.items()})
        return row

    def _write_log(self) -> None:
        columns: list[str] = []
        for row in self.history:
            columns.extend(k for k in row if k not in columns)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write_text(self.fold_dir / "train_log.csv", buf.getvalue())

    def fit(self, log=print) -> dict[str, Any]:
        """Train until ``train.epochs`` (resuming from ``last.pt``); return the best epoch's record."""
        last = self.ckpt_dir / "last.pt"
        if last.is_file():
            self._restore(load_checkpoint(last, self.device))
            if self.epoch < self.cfg.train.epochs:
                log(f"fold {self.fold.name}: resuming after epoch {self.epoch}")
        epochs = self.cfg.train.epochs
        if self.epoch >= epochs or self.stopped_early:
            log(f"fold {self.fold.name}: already trained ({self.epoch} epochs, best dev UA "
                f"{self.best['ua']:.4f} at epoch {self.best['epoch']})")
            return self.best
        log(f"fold {self.fold.name}: {len(self.train_utts)} train, {len(self.dev_utts)} dev utterances")
        if not self.dev_utts:
            log(f"fold {self.fold.name}: no dev set: the last epoch is kept as best")
        patience = self.cfg.train.patience
        while self.epoch < epochs:
            start = time.time()
            row: dict[str, Any] = {"epoch": self.epoch + 1, "lr": self.optimizer.param_groups[0]["lr"]}
            row.update(self._train_epoch())
            self.epoch += 1
            dev_ua = math.nan
            if self.dev_utts:
                pred = predict(self.model, self._loader(self.dev_set, shuffle=False), self.device)
                scores = task_scores(self.model, pred, self.cfg.train.main_task)
                dev_ua = scores["ua"] if scores else math.nan
                row.update({f"dev_loss_{k}": v for k, v in pred["_loss"].items()})
                row.update({"dev_wa": scores["wa"] if scores else math.nan, "dev_ua": dev_ua})
            row["seconds"] = round(time.time() - start, 2)
            self.history.append(row)
            improved = (not self.dev_utts) or dev_ua > self.best["ua"]
            if improved:
                self.best = {"epoch": self.epoch, "ua": dev_ua if self.dev_utts else -1.0}
                save_checkpoint(self.ckpt_dir / "best.pt", self.bundle(dev_ua))
            self.stopped_early = bool(patience is not None and self.dev_utts
                                      and self.epoch - self.best["epoch"] >= patience)
            save_checkpoint(last, self._state())
            self._write_log()
            log(f"fold {self.fold.name} epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}"
                + (f", dev UA {dev_ua:.4f}" if self.dev_utts else "") + f" ({row['seconds']:.1f}s)")
            if self.stopped_early:
                log(f"fold {self.fold.name}: early stop, no dev improvement for {patience} epochs")
                break
        return self.best
