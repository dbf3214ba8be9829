"""Cross-validation folds (``folds.json``) and their speaker-leakage check.

Protocols:

- ``leave-one-session-out`` / ``leave-one-speaker-out``: each session (speaker) is the test set
  once.
- ``speaker-kfold``: speakers split into ``k`` groups of balanced size; each group is tested once.
- ``stratified-kfold``: utterances split at random into ``k`` folds stratified by emotion, with a
  seed and optional repeats. Not speaker-independent: the report says so.
- ``corpus-split``: the corpus's own ``split`` field (train / dev / test).
- ``casia-10fold``: SpeechEQ's ten-fold cross-validation of CASIA (speecheq.txt §3.1). Within
  every speaker × emotion cell, utterances in natural order of their native id (CASIA's sentence
  number) are cut into ten consecutive blocks; fold ``i`` tests block ``i`` of every cell, so each
  test set is class-balanced (WA = UA, the paper's "Acc") and holds the same sentence numbers in
  every cell. Its dev set is block ``i + 1``. Speaker-dependent by construction (CASIA has four
  speakers): the report says so.
- ``dialog-10fold``: the decomposed-speech paper's ten folds on IEMOCAP (decomposed_speech_mtl.txt
  §3.1 "ten-fold cross-validation", §3.4 "10-fold cross-validation setting (leave-one-speaker-
  out)"), made as the code it builds on (its [11], Cai et al.'s "SER with MTL") makes them: the
  utterances are grouped by the dialog prefix of their name (``Ses01F_impro01_M000`` →
  ``Ses01F``: the session and the letter of the dialog, not the speaking actor), ten groups
  ``Ses01F`` … ``Ses05M``, each the test set once. Both actors speak in every dialog, so every
  test speaker also speaks in training: speaker-dependent (its 98.6 % speaker accuracy, Table 3,
  needs that), and the report says so. Its dev set is the next group (``Ses01M`` for ``Ses01F``).

The dev set (``dev``): ``"speakers"`` (the default) is each protocol's own: in every
speaker-independent protocol whole speakers taken from the training side (``dev_fraction`` of
them, at least one), so model selection never sees a test speaker and never sees a training
speaker's utterances either; the speaker-dependent protocols' as said above (stratified:
``dev_fraction`` of each class's training utterances); ``corpus-split``: the corpus's own dev
split. ``"none"`` makes no dev set: every ``dev`` list is empty (the trainer then keeps the last
epoch; ``corpus-split`` leaves the corpus's dev utterances out).

A corpus with fewer speakers than the folds asked of ``speaker-kfold`` gets leave-one-speaker-out
instead (:func:`fit_protocol`, called by ``sertool prep``, which says so in its summary).

Example:
    >>> utts = [Utterance(id=f"x/{spk}{i}", corpus="x", audio=f"/x/{spk}{i}.wav", duration=2.0, sample_rate=16000,
    ...                   speaker=f"x/{spk}", gender="F", language="en", session=None, style="acted", emotion=emo)
    ...         for spk in "abcd" for i, emo in enumerate(["angry", "sad"])]      # 4 speakers × 2
    >>> folds = make_folds(utts, "speaker-kfold", k=2, seed=0)
    >>> [(f.name, f.train, f.dev, f.test) for f in folds]
    [('1', ['x/a0', 'x/a1'], ['x/d0', 'x/d1'], ['x/b0', 'x/b1', 'x/c0', 'x/c1']),
     ('2', ['x/c0', 'x/c1'], ['x/b0', 'x/b1'], ['x/a0', 'x/a1', 'x/d0', 'x/d1'])]
    >>> [leaking_speakers(f, utts) for f in folds]
    [set(), set()]
    >>> [len(leaking_speakers(f, utts)) for f in make_folds(utts, "stratified-kfold", k=2, seed=0)]
    [4, 4]
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_folds(Path(d) / "folds.json", "speaker-kfold", folds, k=2, seed=0)
    ...     protocol, back = read_folds(Path(d) / "folds.json")
    >>> protocol, back == folds
    ('speaker-kfold', True)
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.stage import atomic_write_json

PROTOCOLS = (
    "leave-one-session-out",
    "leave-one-speaker-out",
    "speaker-kfold",
    "stratified-kfold",
    "corpus-split",
    "casia-10fold",
    "dialog-10fold",
)
# Protocols whose folds never share a speaker between train/dev and test. ``corpus-split`` is
# whatever the corpus made it (LibriSpeech's is speaker-independent, ESD's is not).
SPEAKER_INDEPENDENT_PROTOCOLS = ("leave-one-session-out", "leave-one-speaker-out", "speaker-kfold")
#: Values of ``dev`` (``sertool prep --dev``): each protocol's own dev set, or none.
DEV_SETS = ("speakers", "none")
# IEMOCAP utterance names: the dialog prefix (session + the dialog's F/M) before the first "_".
_DIALOG_PREFIX = re.compile(r"^(Ses\d\d[FM])_")


@dataclass
class Fold:
    """One train/dev/test partition of utterance ids."""

    name: str
    train: list[str]
    dev: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "train": self.train, "dev": self.dev, "test": self.test}


def _split_dev_speakers(
    train_utts: list[Utterance], dev_fraction: float, rng: random.Random
) -> tuple[list[str], list[str]]:
    """Move whole speakers (``dev_fraction`` of them, at least one) from train to dev."""
    speakers = sorted({u.speaker for u in train_utts})
    n_dev = max(1, round(dev_fraction * len(speakers))) if dev_fraction > 0 and len(speakers) > 1 else 0
    dev_speakers = set(rng.sample(speakers, n_dev))
    train = [u.id for u in train_utts if u.speaker not in dev_speakers]
    dev = [u.id for u in train_utts if u.speaker in dev_speakers]
    return train, dev


def _group_out(utts: list[Utterance], key, dev_fraction: float, seed: int, what: str) -> list[Fold]:
    groups = sorted({key(u) for u in utts})
    if len(groups) < 2:
        raise SertoolError(f"need at least two {what}s to hold one out, found {len(groups)} "
                           f"({', '.join(map(str, groups))}); a corpus of one {what} can only be split by "
                           "utterance (--protocol stratified-kfold)")
    folds = []
    for g in groups:
        rng = random.Random(f"{seed}-{g}")
        test = [u.id for u in utts if key(u) == g]
        train, dev = _split_dev_speakers([u for u in utts if key(u) != g], dev_fraction, rng)
        folds.append(Fold(str(g).split("/")[-1], train, dev, test))
    return folds


def _balanced_speaker_groups(utts: list[Utterance], k: int, seed: int) -> list[set[str]]:
    """Speakers in ``k`` groups of near-equal utterance counts (greedy, largest first)."""
    counts = Counter(u.speaker for u in utts)
    if len(counts) < k:
        fix = (f"use --folds {len(counts)} or fewer, or --protocol leave-one-speaker-out" if len(counts) > 1
               else "one speaker can only be split by utterance: --protocol stratified-kfold")
        raise SertoolError(f"speaker-kfold with k={k} needs at least {k} speakers, found {len(counts)} ({fix})")
    speakers = sorted(counts)
    random.Random(seed).shuffle(speakers)
    speakers.sort(key=lambda s: -counts[s])  # stable: ties keep the shuffled order
    groups: list[set[str]] = [set() for _ in range(k)]
    sizes = [0] * k
    for s in speakers:
        i = min(range(k), key=lambda j: (sizes[j], len(groups[j])))
        groups[i].add(s)
        sizes[i] += counts[s]
    return groups


def _stratified(utts: list[Utterance], k: int, seed: int, repeats: int, dev_fraction: float) -> list[Fold]:
    if len(utts) < k:
        raise SertoolError(f"stratified-kfold with k={k} needs at least {k} utterances, found {len(utts)} "
                           f"(use --folds {max(2, len(utts))} or fewer)")
    folds = []
    for r in range(repeats):
        rng = random.Random(seed + r)
        by_label: dict[str | None, list[str]] = defaultdict(list)
        for u in utts:
            by_label[u.emotion].append(u.id)
        parts: list[list[str]] = [[] for _ in range(k)]
        for label in sorted(by_label, key=str):
            ids = by_label[label]
            rng.shuffle(ids)
            for i, uid in enumerate(ids):
                parts[i % k].append(uid)
        for i in range(k):
            test = set(parts[i])
            rest = [u for u in utts if u.id not in test]
            # Stratified dev: every dev_fraction-th of each class's remaining utterances.
            dev: set[str] = set()
            if dev_fraction > 0:
                step = max(2, round(1 / dev_fraction))
                rest_by_label: dict[str | None, list[str]] = defaultdict(list)
                for u in rest:
                    rest_by_label[u.emotion].append(u.id)
                for ids in rest_by_label.values():
                    # Every step-th from the step-th on: a class with fewer than `step` utterances
                    # left stays whole in train instead of going wholly to dev.
                    dev.update(ids[step - 1::step])
            name = f"{i + 1}" if repeats == 1 else f"r{r + 1}-{i + 1}"
            folds.append(
                Fold(name, [u.id for u in rest if u.id not in dev], [u.id for u in rest if u.id in dev], parts[i])
            )
    return folds


def _natural_key(text: str) -> list:
    """Sort key that orders digit runs by value (``x_9`` before ``x_10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _cell_blocks(utts: list[Utterance], k: int, dev_fraction: float) -> list[Fold]:
    """``casia-10fold``: consecutive blocks of every speaker × emotion cell (see module doc)."""
    cells: dict[tuple[str, str | None], list[Utterance]] = defaultdict(list)
    for u in utts:
        cells[(u.speaker, u.emotion)].append(u)
    block_of: dict[str, int] = {}
    for members in cells.values():
        members.sort(key=lambda u: _natural_key(u.id))
        n = len(members)
        for i, u in enumerate(members):
            block_of[u.id] = i * k // n
    folds = []
    for i in range(k):
        dev_block = (i + 1) % k if dev_fraction > 0 else None
        test = [u.id for u in utts if block_of[u.id] == i]
        dev = [u.id for u in utts if block_of[u.id] == dev_block]
        train = [u.id for u in utts if block_of[u.id] not in (i, dev_block)]
        folds.append(Fold(str(i + 1), train, dev, test))
    return folds


def dialog_prefix(utt: Utterance) -> str:
    """The IEMOCAP dialog prefix of ``utt``'s name: ``iemocap/Ses01F_impro01_M000`` → ``Ses01F``."""
    m = _DIALOG_PREFIX.match(utt.id.split("/", 1)[-1])
    if m is None:
        raise SertoolError(f"dialog-10fold needs IEMOCAP utterance names (Ses01F_impro01_M000), got {utt.id!r}")
    return m.group(1)


def _dialog_groups(utts: list[Utterance], dev_fraction: float) -> list[Fold]:
    """``dialog-10fold``: one fold per dialog prefix, the next prefix as dev (see module doc)."""
    groups = sorted({dialog_prefix(u) for u in utts})
    with_dev = dev_fraction > 0
    if len(groups) < 2 + with_dev:
        raise SertoolError(f"dialog-10fold needs at least {2 + with_dev} dialog groups (Ses01F ... Ses05M), "
                           f"found {len(groups)} ({', '.join(groups)})" + (" (or --dev none)" if with_dev else ""))
    group_of = {u.id: dialog_prefix(u) for u in utts}
    folds = []
    for i, g in enumerate(groups):
        dev_group = groups[(i + 1) % len(groups)] if with_dev else None
        test = [u.id for u in utts if group_of[u.id] == g]
        dev = [u.id for u in utts if group_of[u.id] == dev_group]
        train = [u.id for u in utts if group_of[u.id] not in (g, dev_group)]
        folds.append(Fold(g, train, dev, test))
    return folds


def fit_protocol(utts: list[Utterance], protocol: str, k: int) -> tuple[str, str | None]:
    """The protocol to use for ``utts``, and a notice when it is not the one asked for.

    ``speaker-kfold`` over fewer speakers than ``k`` (a small corpus of one's own with the
    default five folds) becomes ``leave-one-speaker-out``: as many folds as speakers, still
    speaker-independent. Every other protocol is kept.

    Example:
        >>> utts = [Utterance(id=f"x/{s}{i}", corpus="x", audio="/x.wav", duration=1.0, sample_rate=16000,
        ...                   speaker=f"x/{s}", gender="F", language="en", session=None, style="acted")
        ...         for s in "abc" for i in range(2)]
        >>> fit_protocol(utts, "speaker-kfold", 5)
        ('leave-one-speaker-out', 'speaker-kfold with --folds 5 needs 5 speakers, found 3:
         the folds are leave-one-speaker-out (3 folds) instead')
        >>> fit_protocol(utts, "speaker-kfold", 3)
        ('speaker-kfold', None)
    """
    if protocol == "speaker-kfold":
        n = len({u.speaker for u in utts})
        if 2 <= n < k:
            return "leave-one-speaker-out", (f"speaker-kfold with --folds {k} needs {k} speakers, found {n}: the "
                                             f"folds are leave-one-speaker-out ({n} folds) instead")
    return protocol, None


def make_folds(
    utts: list[Utterance],
    protocol: str,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev_fraction: float = 0.1,
    dev: str = "speakers",
) -> list[Fold]:
    """Folds of ``utts`` under ``protocol`` (one of :data:`PROTOCOLS`); ``dev`` one of :data:`DEV_SETS`."""
    if dev not in DEV_SETS:
        raise SertoolError(f"unknown dev set {dev!r} (known: {', '.join(DEV_SETS)})")
    if dev == "none":
        dev_fraction = 0.0
    if protocol == "leave-one-session-out":
        if any(u.session is None for u in utts):
            raise SertoolError("leave-one-session-out needs a session for every utterance")
        return _group_out(utts, lambda u: u.session, dev_fraction, seed, "session")
    if protocol == "leave-one-speaker-out":
        return _group_out(utts, lambda u: u.speaker, dev_fraction, seed, "speaker")
    if protocol == "speaker-kfold":
        groups = _balanced_speaker_groups(utts, k, seed)
        folds = []
        for i, group in enumerate(groups):
            test = [u.id for u in utts if u.speaker in group]
            train, dev = _split_dev_speakers(
                [u for u in utts if u.speaker not in group], dev_fraction, random.Random(seed * 1000 + i)
            )
            folds.append(Fold(str(i + 1), train, dev, test))
        return folds
    if protocol == "stratified-kfold":
        return _stratified(utts, k, seed, repeats, dev_fraction)
    if protocol == "casia-10fold":
        return _cell_blocks(utts, 10, dev_fraction)
    if protocol == "dialog-10fold":
        return _dialog_groups(utts, dev_fraction)
    if protocol == "corpus-split":
        parts = {s: [u.id for u in utts if u.split == s] for s in ("train", "dev", "test")}
        if not parts["train"] or not parts["test"]:
            raise SertoolError("corpus-split needs utterances with split 'train' and 'test'")
        return [Fold("corpus", parts["train"], parts["dev"] if dev_fraction > 0 else [], parts["test"])]
    raise SertoolError(f"unknown fold protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")


def leaking_speakers(fold: Fold, utts: Iterable[Utterance]) -> set[str]:
    """Speakers with utterances in both the train (or dev) and test sets of ``fold``."""
    speaker = {u.id: u.speaker for u in utts}
    seen = {speaker[i] for i in fold.train + fold.dev}
    return seen & {speaker[i] for i in fold.test}


def write_folds(path: str | Path, protocol: str, folds: list[Fold], **extra) -> None:
    """Write ``folds.json`` (DESIGN.md contract) atomically; ``extra`` keys (seed, k) ride along."""
    for f in folds:
        overlap = (set(f.train) & set(f.test)) | (set(f.train) & set(f.dev)) | (set(f.dev) & set(f.test))
        if overlap:
            raise SertoolError(f"fold {f.name}: {len(overlap)} ids in more than one set")
    atomic_write_json(path, {"protocol": protocol, **extra, "folds": [f.to_dict() for f in folds]}, indent=None)


def read_folds(path: str | Path) -> tuple[str, list[Fold]]:
    """Protocol name and folds of a ``folds.json``."""
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"folds file not found: {path}")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return d["protocol"], [Fold(f["name"], f["train"], f.get("dev", []), f["test"]) for f in d["folds"]]
    except (ValueError, KeyError, TypeError) as e:
        raise SertoolError(f"malformed folds file {path}: {e}") from None
