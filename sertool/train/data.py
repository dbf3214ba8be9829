"""From corpora to padded multi-task batches.

Each item is an utterance's model input and, for every task, its label or None (None also
where the utterance's corpus does not train that task). The input is a feature matrix
(normalised, cropped to ``max_seconds``, optionally zero-padded to it) from the corpus's feature
shards, or, for waveform encoders, the audio samples at the encoder's rate. :class:`Collator`
pads a batch and keeps absolute lengths so models can mask the padding.

Example:
    >>> inputs = FeatureInput(readers, normalisers, max_frames=750)
    >>> ds = UtteranceDataset(items, sources, model.tasks, inputs)
    >>> loader = DataLoader(ds, batch_size=40, collate_fn=Collator(model.tasks))
    >>> batch = next(iter(loader))
    >>> batch["inputs"].shape, batch["lengths"].shape, batch["labels"]["emotion"]["target"].shape
    (torch.Size([40, T, 384]), torch.Size([40]), torch.Size([40]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch.utils.data import Dataset

from sertool.audio import read_audio
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.train.sources import Item, Source


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


def fit_length(x: np.ndarray, max_len: int | None, pad: bool = False) -> np.ndarray:
    """Crop ``x`` (frames or samples first) to ``max_len``; with ``pad``, zero-pad it up to ``max_len``.

    Training and inference both shape their inputs here, so a model sees the same at both.
    Padding comes after normalisation: zeros are then the mean frame, seen by the model as input
    (selective_mtl.txt §4.1).

    Example:
        >>> fit_length(np.ones((5, 2)), 3).shape, fit_length(np.ones((2, 2)), 3, pad=True).shape
        ((3, 2), (3, 2))
    """
    if max_len is None:
        return x
    x = x[:max_len]
    if pad and x.shape[0] < max_len:
        x = np.pad(x, [(0, max_len - x.shape[0])] + [(0, 0)] * (x.ndim - 1))
    return x


class FeatureInput:
    """Feature matrices ``(T, D)`` from each corpus's feature directory, normalised and cropped."""

    def __init__(self, readers: Mapping[str, Any], normalisers: Mapping[str, Normaliser],
                 max_frames: int | None = None, pad_to_max: bool = False):
        self.readers, self.normalisers = dict(readers), dict(normalisers)
        self.max_frames, self.pad_to_max = max_frames, pad_to_max

    def check(self, items: list[Item], sources: list[Source]) -> None:
        """Every item has features (one clear error instead of a failure mid-epoch)."""
        missing = [it.utt.id for it in items if it.utt.id not in self.readers[sources[it.source].features]]
        if missing:
            raise SertoolError(f"{len(missing)} utterances have no features (e.g. {missing[0]}): "
                               "rerun `sertool features` on their manifest")

    def __call__(self, utt: Utterance, features: str) -> torch.Tensor:
        feats = fit_length(self.readers[features].read(utt.id), self.max_frames)  # crop before normalising
        feats = self.normalisers[features](feats, utt.speaker).astype(np.float32, copy=False)
        feats = fit_length(feats, self.max_frames, self.pad_to_max)
        return torch.from_numpy(np.ascontiguousarray(feats))  # (T, D)


class WaveformInput:
    """Mono samples ``(S,)`` at ``sample_rate`` (waveform encoders), cropped to ``max_seconds``."""

    def __init__(self, sample_rate: int, max_seconds: float | None = None, pad_to_max: bool = False):
        self.sample_rate = sample_rate
        self.max_samples = None if max_seconds is None else int(round(max_seconds * sample_rate))
        self.pad_to_max = pad_to_max

    def check(self, items: list[Item], sources: list[Source]) -> None:
        """Audio is read lazily; ``read_audio`` gives a one-line error for a missing file."""

    def __call__(self, utt: Utterance, features: str) -> torch.Tensor:
        wave, _ = read_audio(utt.audio, sample_rate=self.sample_rate)
        wave = fit_length(wave, self.max_samples, self.pad_to_max)
        return torch.from_numpy(np.ascontiguousarray(wave))  # (S,)


class UtteranceDataset(Dataset):
    """Model inputs and per-task labels of a list of items."""

    def __init__(self, items: list[Item], sources: list[Source], tasks: Mapping[str, Any],
                 inputs: FeatureInput | WaveformInput):
        inputs.check(items, sources)
        self.items, self.sources, self.inputs = items, sources, inputs
        # Labels are read once here, not per item: the manifest never changes during training.
        self.labels = [{name: task.encode(it.utt) if sources[it.source].allows(name) else None
                        for name, task in tasks.items()} for it in items]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        it = self.items[i]
        x = self.inputs(it.utt, self.sources[it.source].features)
        return {"id": it.utt.id, "corpus": it.utt.corpus, "inputs": x, "labels": self.labels[i]}


class Collator:
    """Pad items into a batch: ``inputs`` ``(N, T, D)`` or ``(N, S)``, ``lengths`` ``(N,)``, labels per task."""

    def __init__(self, tasks: Mapping[str, Any]):
        self.tasks = dict(tasks)

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = torch.tensor([it["inputs"].shape[0] for it in items], dtype=torch.long)
        inputs = torch.nn.utils.rnn.pad_sequence([it["inputs"] for it in items], batch_first=True)
        labels = {name: task.collate([it["labels"][name] for it in items]) for name, task in self.tasks.items()}
        return {"ids": [it["id"] for it in items], "corpora": [it["corpus"] for it in items],
                "inputs": inputs, "lengths": lengths, "labels": labels}
