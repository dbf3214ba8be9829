"""From manifests, folds and feature shards to padded multi-task batches.

Each item is an utterance's feature matrix (normalised, cropped) and, for every task, its
label or None; :class:`Collator` pads a batch and keeps absolute lengths so models can mask
the padding.

Example:
    >>> ds = UtteranceDataset(reader, utts, model.tasks, normaliser, max_frames=750)
    >>> loader = DataLoader(ds, batch_size=40, collate_fn=Collator(model.tasks))
    >>> batch = next(iter(loader))
    >>> batch["feats"].shape, batch["lengths"].shape, batch["labels"]["emotion"]["target"].shape
    (torch.Size([40, T, 384]), torch.Size([40]), torch.Size([40]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from sertool.data.manifest import Utterance
from sertool.errors import SertoolError


@dataclass
class Normaliser:
    """Mean/variance normalisation with statistics fixed before training (train speakers only).

    ``per_speaker`` (optional) maps a speaker to its own statistics; others use ``mean``/``std``.
    """

    mean: np.ndarray
    std: np.ndarray
    per_speaker: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def __call__(self, feats: np.ndarray, speaker: str | None = None) -> np.ndarray:
        mean, std = self.mean, self.std
        if self.per_speaker is not None and speaker in self.per_speaker:
            mean, std = self.per_speaker[speaker]
        return (feats - mean) / std

    @classmethod
    def identity(cls, dims: int) -> "Normaliser":
        return cls(np.zeros(dims, np.float32), np.ones(dims, np.float32))


class UtteranceDataset(Dataset):
    """Feature matrices and per-task labels of a list of utterances."""

    def __init__(self, reader: Any, utts: list[Utterance], tasks: Mapping[str, Any],
                 normaliser: Normaliser, max_frames: int | None = None):
        missing = [u.id for u in utts if u.id not in reader]
        if missing:
            raise SertoolError(f"{len(missing)} utterances have no features (e.g. {missing[0]}): "
                               "rerun `sertool features` on their manifest")
        self.reader = reader
        self.utts = utts
        self.normaliser = normaliser
        self.max_frames = max_frames
        # Labels are read once here, not per item: the manifest never changes during training.
        self.labels = [{name: task.encode(u) for name, task in tasks.items()} for u in utts]

    def __len__(self) -> int:
        return len(self.utts)

    def __getitem__(self, i: int) -> dict[str, Any]:
        utt = self.utts[i]
        feats = self.reader.read(utt.id)
        if self.max_frames is not None:
            feats = feats[: self.max_frames]
        feats = self.normaliser(feats, utt.speaker).astype(np.float32, copy=False)
        return {"id": utt.id, "feats": torch.from_numpy(np.ascontiguousarray(feats)), "labels": self.labels[i]}


class Collator:
    """Pad a list of items into a batch: ``feats`` ``(N, T, D)``, ``lengths`` ``(N,)``, labels per task."""

    def __init__(self, tasks: Mapping[str, Any]):
        self.tasks = dict(tasks)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = torch.tensor([it["feats"].shape[0] for it in items], dtype=torch.long)
        feats = torch.nn.utils.rnn.pad_sequence([it["feats"] for it in items], batch_first=True)
        labels = {name: task.collate([it["labels"][name] for it in items]) for name, task in self.tasks.items()}
        return {"ids": [it["id"] for it in items], "feats": feats, "lengths": lengths, "labels": labels}
