"""The corpora of an experiment and what each fold trains, validates and tests on.

``data.manifests`` lists corpora (:class:`~sertool.train.config.SourceConfig`); ``data.folds`` names
the folds. Each corpus is either *in the folds* (its own ``folds`` file, paired with ``data.folds``
fold by fold, or ``data.folds`` itself when that file holds its utterances): fold k trains,
validates and tests on the utterances that fold k lists; or *outside the folds* (an ASR corpus
next to an emotion corpus): all its utterances (of ``split``, if given) join every fold's
training set, and none is ever tested. An utterance trains only the tasks its corpus allows.

Example:
    >>> data = load_experiment_data(cfg, input_kind="features")
    >>> items = data.items(fold_index=0, part="train")
    >>> items[0].utt.id, items[0].source, data.sources[items[0].source].tasks
    ('iemocap/Ses02F_impro01_F000', 0, None)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from sertool.data.folds import Fold, read_folds
from sertool.data.manifest import Utterance, read_manifest, validate_manifest
from sertool.errors import SertoolError
from sertool.train.config import ExperimentConfig, SourceConfig

PARTS = ("train", "dev", "test")


@dataclass
class Source:
    """One corpus: its utterances, folds (None: outside the folds), feature directory and tasks."""

    conf: SourceConfig
    utts: list[Utterance]
    folds: list[Fold] | None
    features: str

    @property
    def tasks(self) -> list[str] | None:
        return self.conf.tasks

    def allows(self, task: str) -> bool:
        return self.conf.tasks is None or task in self.conf.tasks


@dataclass(frozen=True)
class Item:
    """An utterance and the index of the corpus it comes from."""

    utt: Utterance
    source: int


@dataclass
class ExperimentData:
    """Everything an experiment reads: folds, corpora, feature readers and CMVN statistics."""

    protocol: str
    folds: list[Fold]
    sources: list[Source]
    readers: dict[str, Any]  # feature directory → FeatureReader (empty for waveform models)
    cmvns: dict[str, Any]  # feature directory → Cmvn

    def fold_index(self, name: str) -> int:
        for i, f in enumerate(self.folds):
            if f.name == name:
                return i
        raise SertoolError(f"unknown fold {name!r} (folds: {', '.join(f.name for f in self.folds)})")

    def items(self, fold_index: int, part: str) -> list[Item]:
        """The utterances of every corpus in ``part`` (train, dev, test) of fold ``fold_index``."""
        out: list[Item] = []
        for s, src in enumerate(self.sources):
            if src.folds is None:
                if part == "train":
                    out.extend(Item(u, s) for u in src.utts if src.conf.split is None or u.split == src.conf.split)
                continue
            wanted = set(getattr(src.folds[fold_index], part))
            out.extend(Item(u, s) for u in src.utts if u.id in wanted)
        return out


def _read_source_folds(src: SourceConfig, default: str, count: int, utts: list[Utterance],
                       primary: list[Fold]) -> list[Fold] | None:
    if src.folds is None:
        listed = {i for f in primary for i in (*f.train, *f.dev, *f.test)}
        return primary if any(u.id in listed for u in utts) else None
    _, folds = read_folds(src.folds)
    if len(folds) != count:
        raise SertoolError(f"{src.folds} has {len(folds)} folds, {default} has {count}: they are paired fold by fold")
    return folds


def load_experiment_data(cfg: ExperimentConfig, input_kind: str = "features") -> ExperimentData:
    """Read the manifests, folds and (for feature models) feature readers and CMVN of ``cfg``."""
    protocol, folds = read_folds(cfg.data.folds)
    sources: list[Source] = []
    for conf in cfg.data.sources():
        utts = read_manifest(conf.path)
        src_folds = _read_source_folds(conf, cfg.data.folds, len(folds), utts, folds)
        sources.append(Source(conf, utts, src_folds, conf.features or cfg.data.features))
    if not any(s.folds is not None for s in sources):
        raise SertoolError(f"no corpus of data.manifests is in {cfg.data.folds}: nothing to validate or test on")
    validate_manifest([u for s in sources for u in s.utts])  # ids unique across corpora
    readers: dict[str, Any] = {}
    cmvns: dict[str, Any] = {}
    if input_kind == "features":
        from sertool.features.cmvn import Cmvn
        from sertool.features.storage import FeatureReader

        for d in dict.fromkeys(s.features for s in sources):
            if not d:
                raise SertoolError("config: data.features is not set")
            readers[d], cmvns[d] = FeatureReader(d), Cmvn.load(d)
        specs = {d: feature_spec(d) for d in readers}
        if len({str(v) for v in specs.values()}) > 1:
            raise SertoolError("the corpora's feature directories hold different features: "
                               + "; ".join(f"{d}: {v['name']}" for d, v in specs.items()))
    return ExperimentData(protocol, folds, sources, readers, cmvns)


def feature_spec(features_dir: str | Path) -> dict[str, Any]:
    """The extractor's name and resolved settings, stored in each model bundle for inference."""
    import yaml

    from sertool.features.extractors import CONFIG_NAME

    path = Path(features_dir) / CONFIG_NAME
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(saved, dict) or "extractor" not in saved:
        raise SertoolError(f"{path} does not name an extractor: rerun `sertool features`")
    return {"name": saved["extractor"], "conf": saved.get("conf") or {}}


def subsample(items: list[Item], fraction: float, seed: int, key: Callable[[Item], Any]) -> list[Item]:
    """A fixed random ``fraction`` of ``items``, drawn within each group of ``key`` (corpus, class).

    Example:
        >>> len(subsample(items, 0.5, seed=0, key=lambda it: it.source)) == round(len(items) / 2)
        True
    """
    if fraction >= 1:
        return items
    groups: dict[Any, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[key(it)].append(i)
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for g in sorted(groups, key=repr):
        idx = groups[g]
        keep.extend(rng.choice(idx, size=max(1, round(fraction * len(idx))), replace=False).tolist())
    return [items[i] for i in sorted(keep)]
