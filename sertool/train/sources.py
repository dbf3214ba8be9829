"""The corpora of an experiment and what each fold trains, validates and tests on.

``data.manifests`` lists corpora (:class:`~sertool.train.config.SourceConfig`); ``data.folds`` names
the folds. Each corpus is either *in the folds* (its own ``folds`` file, paired with ``data.folds``
fold by fold, or ``data.folds`` itself when that file holds its utterances): fold k trains,
validates and tests on the utterances that fold k lists; or *outside the folds* (an ASR corpus
next to an emotion corpus): all its utterances (of ``split``, if given) join every fold's
training set, and none is ever tested. An utterance trains only the tasks its corpus allows.

The inputs of the encoder are resolved here too (:func:`resolve_inputs`): each named input comes
from a feature directory (per corpus, so corpora can have their own) or from the audio.

Example::

    data = load_experiment_data(cfg)
    items = data.items(fold_index=0, part="train")
    items[0].utt.id, items[0].source, data.sources[items[0].source].inputs
    # ('iemocap/Ses02F_impro01_F000', 0, {'feats': 'feats/iemocap_logmel'})
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sertool.data.folds import SPEAKER_INDEPENDENT_PROTOCOLS, Fold, leaking_speakers, read_folds
from sertool.data.manifest import Utterance, read_manifest, validate_manifest
from sertool.errors import SertoolError
from sertool.train.config import ExperimentConfig, InputConfig, SourceConfig

PARTS = ("train", "dev", "test")


@dataclass
class Source:
    """One corpus: its utterances, folds (None: outside the folds), feature directories and tasks."""

    conf: SourceConfig
    utts: list[Utterance]
    folds: list[Fold] | None
    inputs: dict[str, str]  # feature input name → this corpus's feature directory

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
    """Everything an experiment reads: folds, corpora, inputs, feature readers and CMVN statistics."""

    protocol: str
    folds: list[Fold]
    sources: list[Source]
    inputs: dict[str, InputConfig]  # every input of the encoder, resolved
    readers: dict[str, Any]  # feature directory → FeatureReader (empty for audio-only models)
    cmvns: dict[str, Any]  # feature directory → Cmvn
    leaking: dict[str, int] = field(default_factory=dict)  # fold → speakers in both training and test

    @property
    def speaker_independent(self) -> bool:
        """No fold shares a speaker between its training side (train + dev) and its test set."""
        return not any(self.leaking.values())

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


def resolve_inputs(cfg: ExperimentConfig) -> dict[str, InputConfig]:
    """Where every input the encoder declares comes from: ``data.inputs``, else the shorthands.

    A one-input encoder reading features takes ``data.features`` (or each corpus's ``features``);
    an audio input with no entry reads the audio at the encoder's rate.
    """
    from sertool.models import encoder_class

    declared = encoder_class(cfg.model.encoder).inputs
    unknown = sorted(set(cfg.data.inputs) - set(declared))
    if unknown:
        raise SertoolError(f"config: data.inputs names {', '.join(unknown)}, but encoder {cfg.model.encoder!r} "
                           f"reads {', '.join(declared)}")
    out: dict[str, InputConfig] = {}
    for name, kind in declared.items():
        if name in cfg.data.inputs:
            out[name] = cfg.data.inputs[name]
        elif kind == "audio":
            out[name] = InputConfig(audio=True)
        elif len(declared) == 1:
            out[name] = InputConfig(features=cfg.data.features or None)
        else:
            raise SertoolError(f"config: data.inputs.{name} is not set (encoder {cfg.model.encoder!r} reads "
                               f"{', '.join(declared)})")
    return out


def _source_dirs(conf: SourceConfig, inputs: dict[str, InputConfig]) -> dict[str, str]:
    """Feature input name → the corpus's directory: its own ``inputs``/``features``, else ``data.inputs``'."""
    dirs = {}
    for name, inp in inputs.items():
        if inp.audio:
            continue
        own = (conf.inputs or {}).get(name) or (conf.features if len(inputs) == 1 else None)
        d = own or inp.features
        if not d:
            raise SertoolError(f"config: no feature directory for input {name!r} of {conf.path} "
                               "(set data.features or data.inputs)")
        dirs[name] = d
    return dirs


def load_experiment_data(cfg: ExperimentConfig) -> ExperimentData:
    """Read the manifests, folds, and the feature readers and CMVN statistics of every feature input."""
    inputs = resolve_inputs(cfg)
    protocol, folds = read_folds(cfg.data.folds)
    sources: list[Source] = []
    for conf in cfg.data.sources():
        utts = read_manifest(conf.path)
        src_folds = _read_source_folds(conf, cfg.data.folds, len(folds), utts, folds)
        sources.append(Source(conf, utts, src_folds, _source_dirs(conf, inputs)))
    if not any(s.folds is not None for s in sources):
        raise SertoolError(f"no corpus of data.manifests is in {cfg.data.folds}: nothing to validate or test on")
    validate_manifest([u for s in sources for u in s.utts])  # ids unique across corpora
    leaking = check_folds(protocol, sources, cfg.data.folds)
    for src in sources:
        src.utts = filter_utterances(src.utts, src.conf)
    readers: dict[str, Any] = {}
    cmvns: dict[str, Any] = {}
    from sertool.features.cmvn import Cmvn
    from sertool.features.storage import FeatureReader

    for name in inputs:
        dirs = list(dict.fromkeys(s.inputs[name] for s in sources if name in s.inputs))
        for d in dirs:
            if d not in readers:
                readers[d], cmvns[d] = FeatureReader(d), Cmvn.load(d)
        specs = {d: feature_spec(d) for d in dirs}
        if len({str(v) for v in specs.values()}) > 1:
            raise SertoolError(f"the corpora's feature directories for input {name!r} hold different features: "
                               + "; ".join(f"{d}: {v['name']}" for d, v in specs.items()))
    return ExperimentData(protocol, folds, sources, inputs, readers, cmvns, leaking)


def filter_utterances(utts: list[Utterance], conf: SourceConfig) -> list[Utterance]:
    """A corpus's ``languages`` and ``emotions`` filters (training and testing alike).

    SpeechEQ Exp. 1 tests on ESD's Mandarin part without Surprise (``languages: [zh]``,
    ``emotions: [neutral, happy, angry, sad]``); an utterance without an emotion label passes the
    emotion filter (it can still train auxiliary tasks).

    Example:
        >>> from sertool.data.manifest import Utterance
        >>> u = [Utterance(id=f"c/{i}", corpus="c", audio="/a.wav", duration=1.0, sample_rate=16000, speaker="c/s",
        ...                session=None, style="acted", gender="F", language=lang, emotion=emo)
        ...      for i, (lang, emo) in
        ...      enumerate([("zh", "happy"), ("zh", "surprise"), ("en", "happy"), ("zh", None)])]
        >>> [x.id for x in filter_utterances(u, SourceConfig(languages=["zh"], emotions=["happy"]))]
        ['c/0', 'c/3']
    """
    keep = utts
    if conf.languages is not None:
        keep = [u for u in keep if u.language in conf.languages]
    if conf.emotions is not None:
        keep = [u for u in keep if u.emotion is None or u.emotion in conf.emotions]
    return keep


def check_folds(protocol: str, sources: list[Source], where: str) -> dict[str, int]:
    """Check every fold against the manifests before anything is trained or scored.

    Ids the manifests do not hold and an utterance in both a fold's training side and its test
    set are errors. A speaker on both sides is an error under a speaker-independent protocol
    (:data:`~sertool.data.folds.SPEAKER_INDEPENDENT_PROTOCOLS`); under any other protocol (declared
    speaker-dependent: stratified k-fold, a corpus's own split, hand-made folds) it is allowed,
    counted here and flagged in the summary and every ``scores.json``.
    """
    utts = {u.id: u for s in sources for u in s.utts}
    leaking: dict[str, int] = {}
    seen: set[int] = set()
    for src in sources:
        if src.folds is None or id(src.folds) in seen:
            continue
        seen.add(id(src.folds))
        for f in src.folds:
            missing = [i for i in (*f.train, *f.dev, *f.test) if i not in utts]
            if missing:
                raise SertoolError(f"{src.conf.folds or where}: fold {f.name} lists {len(missing)} id(s) that no "
                                   f"manifest of data.manifests holds (e.g. {missing[0]}); regenerate the folds "
                                   "with `sertool prep` or add the manifest")
            both = sorted(set(f.train + f.dev) & set(f.test))
            if both:
                raise SertoolError(f"fold {f.name}: {len(both)} utterance(s) in both training and test (e.g. "
                                   f"{both[0]})")
            speakers = leaking_speakers(f, (utts[i] for i in (*f.train, *f.dev, *f.test)))
            if speakers and protocol in SPEAKER_INDEPENDENT_PROTOCOLS:
                raise SertoolError(f"fold {f.name}: speaker(s) {', '.join(sorted(speakers)[:3])} in both training "
                                   f"and test, but {protocol} folds must be speaker-independent; regenerate them "
                                   "with `sertool prep`, or name the protocol as speaker-dependent")
            leaking[f.name] = leaking.get(f.name, 0) + len(speakers)
    return leaking


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
        >>> items = [Item(utt=None, source=i % 2) for i in range(10)]
        >>> sorted(it.source for it in subsample(items, 0.4, seed=0, key=lambda it: it.source))
        [0, 0, 1, 1]
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
