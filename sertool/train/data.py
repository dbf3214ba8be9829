"""From corpora to padded multi-task batches of named inputs.

Each item is an utterance's named model inputs (:class:`~sertool.train.inputs.ModelInputs`) and,
for every task, its label or None (None also where the utterance's corpus does not train that
task). :class:`Collator` pads each input separately and passes ``<name>`` and ``<name>_lengths``
(absolute lengths, so models can mask the padding).

A training set varies its items per epoch when ``data.augment`` asks it to: an utterance may be
replaced by one of its stored copies, and feature inputs may be randomly resampled. The draws
are a function of (seed, epoch, utterance), so workers, resumed runs and uninterrupted runs see
the same; dev and test sets are built without ``augment`` and never vary.

Example::

    inputs = ModelInputs(specs, data.readers, aligned=model.encoder.aligned_inputs)
    ds = UtteranceDataset(items, data.sources, model.tasks, inputs)
    loader = DataLoader(ds, batch_size=40, collate_fn=Collator(model.tasks))
    batch = next(iter(loader))
    batch["inputs"]["feats"].shape, batch["inputs"]["feats_lengths"].shape
    # (torch.Size([40, T, 384]), torch.Size([40]))
    model(**batch["inputs"])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.utils.data import Dataset

from sertool.errors import SertoolError
from sertool.train.config import AugmentConfig
from sertool.train.inputs import ModelInputs, item_rng
from sertool.train.sources import Item, Source


def carries_sequence(tasks: Mapping[str, Any], it: Item, sources: list[Source]) -> bool:
    """Whether the item carries a sequence (CTC) label its corpus trains: its transcript covers all
    its audio, so its inputs are never cropped."""
    return any(task.kind == "ctc" and sources[it.source].allows(n) and task.encode(it.utt) is not None
               for n, task in tasks.items())


class UtteranceDataset(Dataset):
    """Model inputs and per-task labels of a list of items (varied per epoch by ``augment``)."""

    def __init__(self, items: list[Item], sources: list[Source], tasks: Mapping[str, Any], inputs: ModelInputs,
                 augment: AugmentConfig | None = None, seed: int = 0):
        inputs.check([(it.utt, sources[it.source].inputs) for it in items])
        self.items, self.sources, self.inputs = items, sources, inputs
        self.augment, self.seed, self.epoch = augment, seed, 0
        # Labels are read once here, not per item: the manifest never changes during training.
        self.labels = [{name: task.encode(it.utt) if sources[it.source].allows(name) else None
                        for name, task in tasks.items()} for it in items]
        self.copies = self._copies() if augment is not None and augment.stored > 0 else None
        self.whole = [carries_sequence(tasks, it, sources) for it in items]  # never cropped

    def _copies(self) -> list[list[str]]:
        """Per item, the stored copies every feature input has (so aligned inputs use the same copy)."""
        assert self.augment is not None
        if any(spec.source != "features" for spec in self.inputs.specs.values()):
            raise SertoolError("data.augment.stored needs every input from a feature directory (an audio input has "
                               "no stored copies; a `waveform` feature directory can feed it)")
        tags = self.augment.tags
        out = []
        for it in self.items:
            dirs = self.sources[it.source].inputs
            common = None
            for d in dirs.values():
                have = {a for a in self.inputs.readers[d].augmentations(it.utt.id) if a is not None}
                common = have if common is None else common & have
            out.append(sorted(a for a in common or () if tags is None or any(a.startswith(t) for t in tags)))
        return out

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose draws ``__getitem__`` makes (called before each epoch's loader is made)."""
        self.epoch = epoch

    def variant(self, i: int) -> tuple[str | None, Any]:
        """The stored copy item ``i`` uses this epoch (None: the original) and its resampling generator."""
        if self.augment is None:
            return None, None
        rng = item_rng(self.seed, self.epoch, self.items[i].utt.id)
        aug = None
        if self.copies is not None and self.copies[i] and rng.random() < self.augment.stored:
            aug = self.copies[i][int(rng.integers(len(self.copies[i])))]
        return aug, rng if self.augment.random_resample else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        it = self.items[i]
        aug, rng = self.variant(i)
        warp = self.augment.random_resample if self.augment is not None else None
        x = self.inputs(it.utt, self.sources[it.source].inputs, aug, warp, rng, crop=not self.whole[i])
        return {"id": it.utt.id, "corpus": it.utt.corpus, "aug": aug, "inputs": x, "labels": self.labels[i]}


class Collator:
    """Pad items into a batch: each input ``(N, T, D)`` or ``(N, S)`` with ``<name>_lengths`` ``(N,)``,
    labels per task."""

    def __init__(self, tasks: Mapping[str, Any]):
        self.tasks = dict(tasks)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        inputs: dict[str, torch.Tensor] = {}
        for name in items[0]["inputs"]:
            xs = [it["inputs"][name] for it in items]
            inputs[name] = torch.nn.utils.rnn.pad_sequence(xs, batch_first=True)
            inputs[f"{name}_lengths"] = torch.tensor([x.shape[0] for x in xs], dtype=torch.long)
        labels = {name: task.collate([it["labels"][name] for it in items]) for name, task in self.tasks.items()}
        return {"ids": [it["id"] for it in items], "corpora": [it["corpus"] for it in items],
                "augs": [it["aug"] for it in items], "inputs": inputs, "labels": labels}
