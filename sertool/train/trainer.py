"""Training one fold: updates, validation, logging, checkpoints, exact resume, several processes.

:class:`FoldTrainer` trains the multi-task model on a fold's training utterances (of every
corpus, each utterance training the tasks its corpus allows and its labels carry), scores the main
task's UA (and the other tasks' metrics) on the dev set after every epoch, keeps ``best.pt``
(highest dev UA, or the last epoch with ``train.keep: last``) and ``last.pt`` (the resume point, also written every
``train.checkpoint_every_steps`` updates) and rewrites ``train_log.csv`` from the history stored
in the checkpoint. Rerunning after a kill resumes from ``last.pt`` mid-epoch: the batch order is a
function of (seed, epoch), so the resumed run skips the updates already made and, with the
restored optimiser, scheduler, weighting and random states, reaches the weights an uninterrupted
run reaches. Under ``torchrun`` the model is wrapped in DistributedDataParallel and each process
trains on its share of every batch; only rank 0 writes files.

Example::

    trainer = FoldTrainer(cfg, data, fold_index=0, fold_dir=exp / "fold-1", dist_info=init_distributed("cpu"))
    trainer.fit()          # rerunning resumes from fold-1/checkpoints/last.pt
    # {'epoch': 12, 'ua': 0.71}
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from sertool.errors import SertoolError
from sertool.evaluation.predict import aux_metrics, main_scores, predict, to_device
from sertool.models.multitask import MultiTaskModel
from sertool.schedules import lr_factor
from sertool.stage import atomic_write_json
from sertool.tasks import WEIGHTINGS, task_class
from sertool.tasks.classification import ClassificationTask
from sertool.train.bundle import build_model, make_bundle, save_bundle
from sertool.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from sertool.train.config import ExperimentConfig
from sertool.train.data import Collator, UtteranceDataset, carries_sequence
from sertool.train.distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    broadcast_object,
    gather_objects,
)
from sertool.train.init_from import initialise_from
from sertool.train.inputs import ModelInputs, fold_specs
from sertool.train.logs import TrainLog
from sertool.train.optim import OPTIMIZERS
from sertool.train.sampling import EpochBatches
from sertool.train.sources import ExperimentData, Item, Source, subsample

LAST_META = "last.json"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_deterministic(on: bool) -> None:
    """Deterministic kernels where torch has them (cuDNN, cuBLAS); warnings, not errors, elsewhere."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(on, warn_only=True)


def labelled(items: list[Item], sources: list[Source], model: MultiTaskModel,
             tasks: list[str] | None = None) -> list[Item]:
    """The items that carry a label of at least one of ``tasks`` (all by default) their corpus allows."""
    names = tasks or list(model.tasks)
    return [it for it in items if any(sources[it.source].allows(n) and model.tasks[n].encode(it.utt) is not None
                                       for n in names)]


def in_experiment(items: list[Item], sources: list[Source], model: MultiTaskModel, main: str) -> list[Item]:
    """The items an experiment trains or scores: the main task decides for a corpus in the folds.

    An utterance of a corpus in the folds takes part only if it carries a main-task label (IEMOCAP's
    frustrated, surprise or ``xxx`` turns do not train the gender or intensity heads and are not
    scored: sa_cnn_blstm.txt §3's 5,531 utterances), unless the corpus sets ``keep_unlabelled``;
    a corpus outside the folds trains whatever labels it carries.
    """
    out = []
    for it in labelled(items, sources, model):
        src = sources[it.source]
        if src.folds is None or src.conf.keep_unlabelled or model.tasks[main].encode(it.utt) is not None:
            out.append(it)
    return out


def task_counts(items: list[Item], sources: list[Source], model: MultiTaskModel) -> dict[str, int]:
    """How many of ``items`` carry each task's label."""
    return {n: len(labelled(items, sources, model, [n])) for n in model.tasks}


def cap_per_class(items: list[Item], sources: list[Source], model: MultiTaskModel, main: str,
                  seed: int) -> list[Item]:
    """At most ``max_per_class`` items per main-task class of each corpus that sets it (a seeded draw;
    selective_mtl.txt §2.3: "a similar number of samples for each category")."""
    groups: dict[tuple[int, Any], list[int]] = {}
    for i, it in enumerate(items):
        groups.setdefault((it.source, model.tasks[main].encode(it.utt)), []).append(i)
    rng = np.random.default_rng(seed)
    drop: set[int] = set()
    for (s, _label), idx in sorted(groups.items(), key=lambda kv: repr(kv[0])):
        cap = sources[s].conf.max_per_class
        if cap is not None and len(idx) > cap:
            drop.update(rng.choice(idx, size=len(idx) - cap, replace=False).tolist())
    return [it for i, it in enumerate(items) if i not in drop]



def _float_tensors(pred: Any) -> list[torch.Tensor]:
    values = pred.values() if isinstance(pred, dict) else [pred]
    return [t for t in values if torch.is_floating_point(t)]


class FoldTrainer:
    """Train, validate and checkpoint the model of one fold."""

    def __init__(self, cfg: ExperimentConfig, data: ExperimentData, fold_index: int, fold_dir: Path,
                 dist_info: DistInfo, log: Callable[[str], None] = print):
        self.data = data
        self.fold = data.folds[fold_index]
        self.fold_dir = Path(fold_dir)
        self.ckpt_dir = self.fold_dir / "checkpoints"
        self.dist = dist_info
        self.device = dist_info.device
        self.log = log if dist_info.is_main else (lambda _msg: None)
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        set_deterministic(cfg.train.deterministic)
        self.amp = cfg.train.amp and self.device.type == "cuda"

        # Settings learnt from the fold's training data (e.g. the speaker list) go into its config.
        train_items = data.items(fold_index, "train")
        self.cfg = dataclasses.replace(cfg, tasks=self._complete_tasks(cfg, train_items, data.sources))
        seed_everything(cfg.train.seed)  # the same initial weights in every process
        self.net = build_model(self.cfg).to(self.device)
        if self.cfg.init_from is not None:  # e.g. pre-trained encoders (decomposed_speech_mtl.txt §2.3)
            init = self.cfg.init_from
            loaded = initialise_from(self.net, init.exp, init.map, self.fold.name)
            self.log(f"fold {self.fold.name}: {len(loaded)} tensors initialised from {init.exp}")
        if not isinstance(self.net.tasks[self.cfg.train.main_task], ClassificationTask):
            raise SertoolError(f"config: train.main_task {self.cfg.train.main_task!r} must be a classification "
                               "task (scored by UA)")
        self.train_items, self.dev_items = self._select_items(train_items, data.items(fold_index, "dev"), fold_index)
        self.specs = fold_specs(self.cfg, data, self.net.encoder, self.train_items)
        inputs = ModelInputs(self.specs, data.readers, self.net.encoder.aligned_inputs)
        self.collate = Collator(self.net.tasks)
        self.train_set = UtteranceDataset(self.train_items, data.sources, self.net.tasks, inputs,
                                          augment=cfg.data.augment, seed=cfg.train.seed)
        self.dev_set = UtteranceDataset(self.dev_items, data.sources, self.net.tasks, inputs)  # never augmented
        sizes = [sum(it.source == s for it in self.train_items) for s in range(len(data.sources))]
        shares = [s.conf.share for s in data.sources]
        self.sampler = EpochBatches(sizes, [s.conf.ratio for s in data.sources], cfg.train.batch_size, cfg.train.seed,
                                    dist_info.rank, dist_info.world_size,
                                    shares=None if shares[0] is None else shares,
                                    durations=self._sampled_durations() if cfg.train.batch_seconds else None,
                                    batch_seconds=cfg.train.batch_seconds)
        self.steps_per_epoch = len(self.sampler)  # batches
        self.accumulate = cfg.train.accumulate
        self.updates_per_epoch = math.ceil(self.steps_per_epoch / self.accumulate)  # optimiser updates

        spec = {k: v for k, v in self.cfg.weighting.items() if k != "lr"}  # lr: the trainer's, for its parameters
        self.weighting = WEIGHTINGS.build_spec(spec, weights=self.cfg.task_weights(), default="fixed").to(self.device)
        self.optimizer = self._optimizer()
        o = self.cfg.optim
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_factor(o.scheduler, o.lr, self.updates_per_epoch, cfg.train.epochs))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.model: torch.nn.Module = self.net
        if dist_info.distributed:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.net, device_ids=[self.device] if self.device.type == "cuda" else None,
                find_unused_parameters=bool(getattr(self.net.encoder, "skips_parameters", False)))  # layer drop
        # Dropout draws differ between processes, like their data; the initial weights did not.
        seed_everything(cfg.train.seed + 1_000_003 * dist_info.rank)

        self.epoch = 0  # epochs completed
        self.step = 0  # updates completed within the current epoch
        self.sums: dict[str, float] = {}  # running sums of the current epoch (saved, so a resumed epoch logs the same)
        self.stopped_early = False
        self.best: dict[str, Any] = {"epoch": -1, "ua": -1.0}
        self.history: list[dict[str, Any]] = []
        self.train_log = TrainLog(self.fold_dir, cfg.train.tensorboard and dist_info.is_main, self.log)

    @staticmethod
    def _complete_tasks(cfg: ExperimentConfig, items: list[Item], sources: list[Source]) -> dict[str, dict[str, Any]]:
        tasks = {}
        for name, conf in cfg.tasks.items():
            utts = [it.utt for it in items if sources[it.source].allows(name)]
            tasks[name] = task_class(conf.get("type", name), name).complete_conf(dict(conf), utts)
        return tasks

    def _select_items(self, train: list[Item], dev: list[Item], fold_index: int) -> tuple[list[Item], list[Item]]:
        """Training items that carry a label of a task their corpus trains (``train_fraction`` of them);
        dev items that carry the main task's label."""
        sources, main, d = self.data.sources, self.cfg.train.main_task, self.cfg.data
        train = in_experiment(train, sources, self.net, main)
        train = cap_per_class(train, sources, self.net, main, self.cfg.train.seed * 7919 + fold_index + 1)
        train = subsample(train, d.train_fraction, self.cfg.train.seed * 7919 + fold_index,
                          key=lambda it: (it.source, self.net.tasks[main].encode(it.utt)))
        long = [it for it in train if d.max_seconds is not None and it.utt.duration > d.max_seconds
                and carries_sequence(self.net.tasks, it, sources)]
        if long and d.long_transcripts == "drop":
            self.log(f"fold {self.fold.name}: {len(long)} utterances longer than {d.max_seconds} s carry a "
                     "transcript: dropped from training (data.long_transcripts: drop)")
            dropped = set(map(id, long))
            train = [it for it in train if id(it) not in dropped]
        elif long and d.pad_to_max:
            raise SertoolError(f"config: data.pad_to_max makes every input {d.max_seconds} s long, but "
                               f"{len(long)} training utterances carrying a transcript are longer (e.g. "
                               f"{long[0].utt.id}, {long[0].utt.duration:.1f} s) and cannot be cropped; set "
                               "data.long_transcripts: drop or raise data.max_seconds")
        if not labelled(train, sources, self.net, [main]):
            raise SertoolError(f"fold {self.fold.name}: no training utterance carries a {main} label")
        return train, labelled(dev, sources, self.net, [main])

    def _sampled_durations(self) -> list[float]:
        """Seconds each training item occupies in a batch, for dynamic batches: its duration, cut at
        ``data.max_seconds`` unless it is kept whole (a transcript) or padded to it (``pad_to_max``)."""
        d = self.cfg.data
        if d.pad_to_max and d.max_seconds is not None:
            return [float(d.max_seconds)] * len(self.train_items)
        return [it.utt.duration if d.max_seconds is None or whole else min(it.utt.duration, d.max_seconds)
                for it, whole in zip(self.train_items, self.train_set.whole)]

    def _optimizer(self) -> torch.optim.Optimizer:
        """Trainable parameters (frozen ones left out): the heads at ``optim.lr``, the encoder at
        ``optim.encoder_lr`` when set (a group of its own), the weighting's own parameters last."""
        o = self.cfg.optim
        trainable = [p for p in self.net.parameters() if p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": trainable}]
        if o.encoder_lr is not None:
            encoder = {id(p) for p in self.net.encoder.parameters()}
            groups = [{"params": [p for p in trainable if id(p) not in encoder]},
                      {"params": [p for p in trainable if id(p) in encoder], "lr": o.encoder_lr}]
        own = list(self.weighting.parameters())
        if own:  # the weighting's own parameters: never decayed, optionally their own learning rate
            groups.append({"params": own, "weight_decay": 0.0, "lr": float(self.cfg.weighting.get("lr", o.lr))})
        return OPTIMIZERS.build(o.name, None, groups, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

    # -- state -----------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        """The resume point; a collective call (every process's random state and sums are kept)."""
        per_rank = gather_objects({"rng": rng_state(), "sums": dict(self.sums)}, self.dist)
        return {
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "weighting": self.weighting.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "stopped_early": self.stopped_early,
            "best": self.best,
            "history": self.history,
            "per_rank": per_rank,
            "world_size": self.dist.world_size,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if "per_rank" not in state:
            raise SertoolError(f"fold {self.fold.name}: last.pt was written by an older sertool and cannot be "
                               "resumed; use --force to start over")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.weighting.load_state_dict(state["weighting"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.best, self.history, self.stopped_early = state["best"], state["history"], state["stopped_early"]
        if state["world_size"] != self.dist.world_size and self.step:
            raise SertoolError(f"fold {self.fold.name}: last.pt was saved mid-epoch by {state['world_size']} "
                               f"process(es); resume it with as many, not {self.dist.world_size}")
        mine = state["per_rank"][min(self.dist.rank, len(state["per_rank"]) - 1)]
        self.sums = dict(mine["sums"])
        set_rng_state(mine["rng"])

    def _save_last(self) -> None:
        state = self._state()
        if self.dist.is_main:
            save_checkpoint(self.ckpt_dir / "last.pt", state)
            # what `sertool eval` checks (finished or not) without loading the weights
            atomic_write_json(self.ckpt_dir / LAST_META, {"epoch": self.epoch, "epochs": self.cfg.train.epochs,
                                                          "stopped_early": self.stopped_early})

    def bundle(self, dev_ua: float) -> dict[str, Any]:
        """The self-contained model bundle saved as ``best.pt``."""
        return make_bundle(self.net, self.cfg, self.specs, sorted({it.utt.speaker for it in self.train_items}),
                           self.fold.name, self.epoch, dev_ua)

    # -- loops -----------------------------------------------------------------------------
    def _loader(self, dataset: UtteranceDataset, batches: list[list[int]] | None = None) -> DataLoader:
        # An explicit generator: creating a loader must not draw from the global random state,
        # or a resumed run's dropout would drift from an uninterrupted run's.
        kw: dict[str, Any] = ({"batch_sampler": batches} if batches is not None
                              else {"batch_size": self.cfg.train.batch_size})
        return DataLoader(dataset, collate_fn=self.collate, num_workers=self.cfg.data.num_workers,
                          generator=torch.Generator().manual_seed(self.cfg.train.seed), **kw)

    def _add(self, key: str, value: float, count: float = 1.0) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value
        self.sums[f"{key}#n"] = self.sums.get(f"{key}#n", 0.0) + count

    def _group_size(self) -> int:
        """Batches in the accumulation group of the current batch (the epoch's last group may be short)."""
        start = self.step - self.step % self.accumulate
        return min(self.accumulate, self.steps_per_epoch - start)

    def _train_step(self, batch: dict[str, Any]) -> None:
        """Forward and backward one batch; the optimiser steps after the last batch of its accumulation
        group, with the gradients of the group's mean loss."""
        size = self._group_size()
        first = self.step % self.accumulate == 0
        last = self.step % self.accumulate == size - 1
        self.weighting.set_progress(self.epoch + self.step / self.steps_per_epoch)
        if first:
            self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            preds = self.model(**to_device(batch["inputs"], self.device))
        losses: dict[str, torch.Tensor] = {}
        for name, task in self.net.tasks.items():
            loss = task.loss(preds[name], {k: v.to(self.device) for k, v in batch["labels"][name].items()})
            if loss is not None:
                losses[name] = loss
        shared = {"shared": self.net.encoder.shared_parameters()} if self.weighting.needs_shared_parameters else {}
        own = list(self.weighting.parameters())
        scale = (self.scaler.get_scale() if self.amp else 1.0) / size
        before = [None if p.grad is None else p.grad.clone() for p in own] if scale != 1.0 else []
        total, weights = self.weighting(losses, **shared)
        # Gradients a weighting set itself are this batch's, in true units: the scaler expects scaled
        # ones, and an accumulation group averages its batches.
        for p, b in zip(own, before):
            if p.grad is not None:
                p.grad = p.grad * scale if b is None else b + (p.grad - b) * scale
        if self.dist.distributed:
            # Every head must take part in every update: tasks absent from this process's share
            # of the batch contribute a zero, so DDP still reduces their (zero) gradients.
            absent = [t for n in self.net.tasks if n not in losses for t in _float_tensors(preds[n])]
            total = total + sum(0.0 * t.sum() for t in absent)
        finite = torch.tensor(float(torch.isfinite(total.detach()).all()), device=self.device)
        if all_reduce_sum(finite, self.dist) < self.dist.world_size:
            raise SertoolError(f"fold {self.fold.name}: loss became {float(total)} at epoch {self.epoch + 1}, "
                               f"update {self.step + 1}; lower optim.lr or check the features")
        self.scaler.scale(total / size if size > 1 else total).backward()
        if self.dist.distributed:
            for p in self.weighting.parameters():  # not inside DDP: average their gradients here
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                all_reduce_mean(p.grad, self.dist)
        if last:
            self._update()
        self._add("loss", float(total.detach()))
        for name, loss in losses.items():
            self._add(f"loss_{name}", float(loss.detach()))
            self._add(f"weight_{name}", float(weights[name]))

    def _update(self) -> None:
        """One optimiser update with the accumulated gradients (clipped), then the schedules' step."""
        o = self.cfg.optim
        if o.grad_clip_value is not None or o.grad_clip_norm is not None:
            self.scaler.unscale_(self.optimizer)
            if o.grad_clip_value is not None:
                torch.nn.utils.clip_grad_value_(self.net.parameters(), o.grad_clip_value)
            if o.grad_clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), o.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.weighting.after_step()

    def _epoch_means(self) -> dict[str, float]:
        """The epoch's mean losses and weights, averaged over processes."""
        mine = [k for k in self.sums if not k.endswith("#n")]
        keys = sorted({k for ks in gather_objects(mine, self.dist) for k in ks})  # a task may be on some processes only
        vals = torch.tensor([[self.sums.get(k, 0.0), self.sums.get(f"{k}#n", 0.0)] for k in keys], dtype=torch.float64)
        vals = all_reduce_sum(vals.to(self.device), self.dist).cpu()
        return {k: float(s / n) for k, (s, n) in zip(keys, vals.tolist()) if n > 0}

    def _train_epoch(self) -> dict[str, float]:
        self.model.train()
        every = self.cfg.train.checkpoint_every_steps
        if self.step == 0:
            self.sums = {"lr": self.optimizer.param_groups[0]["lr"]}
            if self.cfg.optim.encoder_lr is not None:
                self.sums["lr_encoder"] = self.optimizer.param_groups[1]["lr"]
        self.train_set.set_epoch(self.epoch)  # the epoch's stored copies and warps (a function of seed and epoch)
        self.steps_per_epoch = self.sampler.num_batches(self.epoch)  # differs by epoch with dynamic batches
        n = self.accumulate
        for batch in self._loader(self.train_set, self.sampler.batches(self.epoch, start=self.step)):
            self._train_step(batch)
            self.step += 1
            # mid-epoch resume points only between updates (gradients being accumulated are not saved)
            if (every and self.step % n == 0 and self.step < self.steps_per_epoch
                    and self.step // every > (self.step - n) // every):
                self._save_last()
        lrs = {k: self.sums.pop(k) for k in ("lr", "lr_encoder") if k in self.sums}
        means = self._epoch_means()
        self.weighting.epoch_end({k.removeprefix("loss_"): v for k, v in means.items() if k.startswith("loss_")})
        return {**lrs, **means}

    def _sync_buffers(self) -> None:
        """Rank 0's batch-norm statistics everywhere, so every process scores the same model."""
        if self.dist.distributed:
            for b in self.net.buffers():
                torch.distributed.broadcast(b, 0)

    def _validate(self) -> tuple[float, dict[str, Any]]:
        main = self.cfg.train.main_task
        pred = predict(self.net, self._loader(self.dev_set), self.device, self.amp)
        scores = main_scores(self.net, pred, main)
        dev_ua = scores["ua"] if scores else math.nan
        row: dict[str, Any] = {f"dev_loss_{k}": v for k, v in pred["_loss"].items()}
        row.update({"dev_wa": scores["wa"] if scores else math.nan, "dev_ua": dev_ua})
        aux = aux_metrics(self.net, pred, [t for t in self.net.tasks if t != main])
        row.update({f"dev_{k}": v for k, v in aux.items()})
        return dev_ua, row

    def fit(self) -> dict[str, Any]:
        """Train until ``train.epochs`` (resuming from ``last.pt``); return the best epoch's record."""
        last = self.ckpt_dir / "last.pt"
        if last.is_file():
            self._restore(load_checkpoint(last, self.device))
            if self.epoch < self.cfg.train.epochs and not self.stopped_early:
                where = f", update {self.step}/{self.steps_per_epoch} of epoch {self.epoch + 1}" if self.step else ""
                self.log(f"fold {self.fold.name}: resuming after epoch {self.epoch}{where}")
        epochs = self.cfg.train.epochs
        if self.epoch >= epochs or self.stopped_early:
            self.log(f"fold {self.fold.name}: already trained ({self.epoch} epochs, best dev UA "
                     f"{self.best['ua']:.4f} at epoch {self.best['epoch']})")
            return self.best
        corpora = sorted({it.utt.corpus for it in self.train_items})
        per_task = ", ".join(f"{k} {v}" for k, v in task_counts(self.train_items, self.data.sources, self.net).items())
        self.log(f"fold {self.fold.name}: {len(self.train_items)} train ({', '.join(corpora)}; per task: "
                 f"{per_task}), {len(self.dev_items)} dev utterances, {self.steps_per_epoch} updates per epoch")
        keep_last = self.cfg.train.keep == "last" or not self.dev_items
        if not self.dev_items:
            self.log(f"fold {self.fold.name}: no dev set: the last epoch is kept as best")
        elif keep_last:
            self.log(f"fold {self.fold.name}: train.keep last: the last epoch is kept, the dev set is only scored")
        patience = self.cfg.train.patience
        try:
            while self.epoch < epochs:
                start = time.time()
                row: dict[str, Any] = {"epoch": self.epoch + 1}
                row.update(self._train_epoch())
                self.epoch, self.step, self.sums = self.epoch + 1, 0, {}
                self._sync_buffers()
                dev_ua = math.nan
                if self.dev_items:
                    dev_ua, dev_row = self._validate()
                    row.update(dev_row)
                row["seconds"] = round(time.time() - start, 2)
                self.history.append(row)
                improved = keep_last or dev_ua > self.best["ua"]
                improved = broadcast_object(improved, self.dist)  # one decision for every process
                if improved:
                    self.best = {"epoch": self.epoch, "ua": dev_ua if self.dev_items else -1.0}
                    if self.dist.is_main:
                        save_bundle(self.ckpt_dir / "best.pt", self.bundle(dev_ua))
                self.stopped_early = bool(patience is not None and self.dev_items
                                          and self.epoch - self.best["epoch"] >= patience)
                self._save_last()
                if self.dist.is_main:
                    self.train_log.write(self.history)
                weights = ", ".join(f"{k.removeprefix('weight_')} {v:.3g}" for k, v in row.items()
                                    if k.startswith("weight_"))
                self.log(f"fold {self.fold.name} epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}"
                         + (f", dev UA {dev_ua:.4f}" if self.dev_items else "")
                         + f" (weights: {weights}; {row['seconds']:.1f}s)")
                if self.stopped_early:
                    self.log(f"fold {self.fold.name}: early stop, no dev improvement for {patience} epochs")
                    break
        finally:
            self.train_log.close()
        return self.best
