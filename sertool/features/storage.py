"""HDF5 feature shards, their index, and the reader the trainer and inference use.

A feature directory (DESIGN.md "Feature storage")::

    feats-00000.h5     one float32 (frames, dims) dataset per utterance and per copy
    feats-00001.h5     ... fixed-size chunks of the manifests, in manifest order
    index.jsonl        {"id", "shard", "key", "frames", "dims", "frame_shift", "aug"} per dataset
    cmvn.json          global and per-speaker count/mean/var (sertool.features.cmvn)
    config.yaml        extractor name and resolved settings (sertool.features.extractors)
    .parts/feats-00000.json   per-shard index lines + statistics, written after the shard
    .done              stage marker

Each shard is written under a temporary name and renamed, then its ``.parts`` fragment is
written (also atomically) carrying the settings digest. A shard counts as finished only when
its fragment exists with the current digest, so a killed run resumes shard by shard and never
rewrites a finished shard. ``index.jsonl`` and ``cmvn.json`` are merged from the fragments
at the end. Finished shards are written back and dropped from the page cache as the stage goes
(:class:`DropBehind`): they are read again only later, by training (or by the second pass of
extractors that need speaker statistics).

Dataset keys are the utterance id with ``%`` and ``/`` escaped (flat, no HDF5 groups), plus
``@<aug>`` for copies.

Example (one shard holding an utterance and one augmented copy):
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as feats_dir:
    ...     with ShardWriter(feats_dir, 0, "fbank", 0.01, 80, digest="settings-1") as w:
    ...         w.add("ravdess/03-01-05", None, "ravdess/01", np.ones((312, 80), np.float32))
    ...         w.add("ravdess/03-01-05", "speed0.91+noise17dB", "ravdess/01", np.ones((343, 80), np.float32))
    ...     counts, _ = merge_fragments(feats_dir, num_shards=1, dims=80)
    ...     reader = FeatureReader(feats_dir)
    ...     x = reader.read(reader.ids()[0])
    ...     facts = reader.dims, reader.frame_shift, reader.ids(), reader.augmentations("ravdess/03-01-05")
    ...     reader.close()
    >>> counts
    {'utterances': 1, 'stored': 2, 'frames': 312}
    >>> facts
    (80, 0.01, ['ravdess/03-01-05'], [None, 'speed0.91+noise17dB'])
    >>> x.dtype, x.shape
    (dtype('float32'), (312, 80))
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from sertool.errors import SertoolError
from sertool.features.cmvn import SpeakerMoments
from sertool.stage import atomic_path, atomic_write_json

INDEX_NAME = "index.jsonl"
PARTS_DIR = ".parts"
INDEX_FIELDS = ("id", "shard", "key", "frames", "dims", "frame_shift", "aug")


def shard_name(shard: int) -> str:
    """``feats-00042.h5`` for shard 42."""
    return f"feats-{shard:05d}.h5"


def fragment_path(feats_dir: Path, shard: int) -> Path:
    """Where shard ``shard``'s index fragment lives."""
    return feats_dir / PARTS_DIR / f"feats-{shard:05d}.json"


def dataset_key(utt_id: str, aug: str | None) -> str:
    """HDF5 dataset name of an utterance (copy): flat, unique, readable.

    Example:
        >>> dataset_key("iemocap/Ses01F_impro01_M000", "speed0.91")
        'iemocap%2FSes01F_impro01_M000@speed0.91'
    """
    key = utt_id.replace("%", "%25").replace("/", "%2F")
    return key if aug is None else f"{key}@{aug}"


def check_features(feats: np.ndarray, what: str, utt_id: str, aug: str | None, dims: int) -> None:
    """Refuse (``SertoolError`` naming the utterance) empty, mis-shaped or non-finite features."""
    name = utt_id if aug is None else f"{utt_id} (copy {aug})"
    if feats.ndim != 2 or feats.shape[1] != dims:
        raise SertoolError(f"{what} features of {name} have shape {feats.shape}, expected (frames, {dims})")
    if feats.shape[0] == 0:
        raise SertoolError(f"{what} features of {name} are empty (audio shorter than one frame?)")
    if not np.isfinite(feats).all():
        raise SertoolError(f"{what} features of {name} contain NaN or Inf")


def advise_dontneed(path: Path) -> None:
    """``posix_fadvise(DONTNEED)`` on ``path``: Linux starts writing dirty pages back and drops clean ones.

    Best effort: where the call does not exist (macOS, Windows) or fails, the page cache keeps
    the file, and nothing else changes.
    """
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


class DropBehind:
    """Keeps finished shards out of the page cache without waiting for the disk.

    A shard is written once and read much later, by training; caching it only pushes out pages
    that are read again (the audio, other features). On VMs whose freed memory goes back to the
    host, every new page-cache page also costs 5-10 µs: writing 1.2 GB of files took 0.5-0.7 s
    with drop-behind and 2.2-2.6 s without (``benchmarks/page_cost.py``). :meth:`finished`
    starts the writeback of a finished shard and drops the previous one, written back by then,
    so the next shard reuses its pages. One instance per process (forked workers get their own
    copy).

    Example::

        DROP_BEHIND.finished(Path("feats/fbank/feats-00003.h5"))   # shard 3 is complete on disk
    """

    def __init__(self) -> None:
        self._previous: Path | None = None

    def finished(self, path: Path) -> None:
        advise_dontneed(path)
        if self._previous is not None and self._previous != path:
            advise_dontneed(self._previous)
        self._previous = path


DROP_BEHIND = DropBehind()


class ShardWriter:
    """Writes one shard atomically and records its index lines and per-speaker statistics.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as out:
        ...     with ShardWriter(out, 3, "fbank", 0.01, 80, digest="settings-1") as w:
        ...         w.add("ravdess/03-01-05", None, "ravdess/01", np.zeros((312, 80), np.float32))
        ...     finished = shard_done(out, 3, "settings-1"), shard_done(out, 3, "settings-2")
        ...     files = sorted(str(p.relative_to(out)) for p in Path(out).rglob("*") if p.is_file())
        >>> finished                       # a shard counts only for the settings it was written with
        (True, False)
        >>> files
        ['.parts/feats-00003.json', 'feats-00003.h5']
        >>> with tempfile.TemporaryDirectory() as out, ShardWriter(out, 0, "fbank", 0.01, 80, "settings-1") as w:
        ...     w.add("ravdess/03-01-05", None, "ravdess/01", np.zeros((312, 40), np.float32))
        Traceback (most recent call last):
        ...
        sertool.errors.SertoolError: fbank features of ravdess/03-01-05 have shape (312, 40), expected (frames, 80)
    """

    def __init__(self, feats_dir: str | Path, shard: int, what: str, frame_shift: float, dims: int,
                 digest: str) -> None:
        self.feats_dir = Path(feats_dir)
        self.shard = shard
        self.what = what
        self.frame_shift = frame_shift
        self.dims = dims
        self.digest = digest
        self.entries: list[dict[str, Any]] = []
        self.moments = SpeakerMoments(dims)
        self.extra: dict[str, Any] = {}
        self._stack = contextlib.ExitStack()
        self._h5: h5py.File | None = None

    def __enter__(self) -> ShardWriter:
        tmp = self._stack.enter_context(atomic_path(self.feats_dir / shard_name(self.shard)))
        # HDF5's default driver writes each matrix straight to the file: half the cost of
        # building the shard in memory first (driver="core"), measured with 100-matrix shards
        self._h5 = h5py.File(tmp, "w")
        return self

    def add(self, utt_id: str, aug: str | None, speaker: str, feats: np.ndarray) -> None:
        """Validate and store one matrix; originals (``aug`` None) count towards CMVN."""
        assert self._h5 is not None, "use ShardWriter as a context manager"
        check_features(feats, self.what, utt_id, aug, self.dims)
        key = dataset_key(utt_id, aug)
        # track_times=False keeps the file free of timestamps, so reruns write identical bytes
        self._h5.create_dataset(key, data=np.ascontiguousarray(feats, dtype=np.float32), track_times=False)
        self.entries.append({"id": utt_id, "shard": shard_name(self.shard), "key": key,
                             "frames": int(feats.shape[0]), "dims": self.dims,
                             "frame_shift": self.frame_shift, "aug": aug})
        if aug is None:
            self.moments.add(speaker, feats)

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._h5 is not None:
            self._h5.close()
        # renames the shard into place only when no exception is propagating
        self._stack.__exit__(exc_type, exc, tb)
        if exc_type is None:
            DROP_BEHIND.finished(self.feats_dir / shard_name(self.shard))
            atomic_write_json(fragment_path(self.feats_dir, self.shard), {
                "digest": self.digest, "entries": self.entries,
                "speakers": self.moments.to_json(), "extra": self.extra,
            }, indent=None)


def read_fragment(feats_dir: str | Path, shard: int) -> dict[str, Any] | None:
    """A shard's fragment, or ``None`` when missing or unreadable."""
    try:
        return json.loads(fragment_path(Path(feats_dir), shard).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def shard_done(feats_dir: str | Path, shard: int, digest: str) -> bool:
    """True when shard ``shard`` was finished with settings ``digest``."""
    frag = read_fragment(feats_dir, shard)
    return (frag is not None and frag.get("digest") == digest
            and (Path(feats_dir) / shard_name(shard)).is_file())


def remove_stale(feats_dir: str | Path, num_shards: int, digest: str) -> None:
    """Delete shards and fragments from other settings or beyond ``num_shards``, and temp files."""
    feats_dir = Path(feats_dir)
    if not feats_dir.is_dir():
        return
    for path in list(feats_dir.glob("feats-*.h5")) + list((feats_dir / PARTS_DIR).glob("feats-*.json")):
        try:
            shard = int(path.name.split("-")[1].split(".")[0])
        except (IndexError, ValueError):
            continue
        if shard >= num_shards or not shard_done(feats_dir, shard, digest):
            path.unlink(missing_ok=True)
    for tmp in list(feats_dir.glob(".*.tmp")) + list((feats_dir / PARTS_DIR).glob(".*.tmp")):
        tmp.unlink(missing_ok=True)


def merge_fragments(feats_dir: str | Path, num_shards: int, dims: int) -> tuple[dict[str, int], SpeakerMoments]:
    """Write ``index.jsonl`` from all fragments (shard order), streaming; return counts and speaker moments.

    Counts: ``utterances`` and ``frames`` of originals, ``stored`` matrices including copies.
    """
    feats_dir = Path(feats_dir)
    counts = {"utterances": 0, "stored": 0, "frames": 0}
    moments = SpeakerMoments(dims)
    with atomic_path(feats_dir / INDEX_NAME) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for shard in range(num_shards):
            frag = read_fragment(feats_dir, shard)
            if frag is None:
                raise SertoolError(f"shard {shard_name(shard)} of {feats_dir} is missing its index fragment")
            for e in frag["entries"]:
                f.write(json.dumps({k: e[k] for k in INDEX_FIELDS}, ensure_ascii=False) + "\n")
                counts["stored"] += 1
                if e["aug"] is None:
                    counts["utterances"] += 1
                    counts["frames"] += e["frames"]
            moments.update_json(frag["speakers"])
    return counts, moments


def read_index(feats_dir: str | Path) -> list[dict[str, Any]]:
    """The lines of ``feats_dir/index.jsonl``."""
    path = Path(feats_dir) / INDEX_NAME
    if not path.is_file():
        raise SertoolError(f"no {INDEX_NAME} in {feats_dir} (run `sertool features` first)")
    with open(path, encoding="utf-8") as f:
        try:
            return [json.loads(line) for line in f if line.strip()]
        except ValueError as e:
            raise SertoolError(f"malformed {path}: {e}") from None


class FeatureReader:
    """Random access to a feature directory; HDF5 files open lazily, once per process.

    Safe to pickle and to use after ``fork`` (DataLoader workers): open handles are
    never shared between processes.
    """

    def __init__(self, feats_dir: str | Path) -> None:
        self.feats_dir = Path(feats_dir)
        entries = read_index(self.feats_dir)
        if not entries:
            raise SertoolError(f"{self.feats_dir / INDEX_NAME} is empty")
        self._entries: dict[tuple[str, str | None], dict[str, Any]] = {}
        self._augs: dict[str, list[str | None]] = {}
        for e in entries:
            self._entries[(e["id"], e["aug"])] = e
            self._augs.setdefault(e["id"], []).append(e["aug"])
        self.frame_shift: float = float(entries[0]["frame_shift"])
        self.dims: int = int(entries[0]["dims"])
        self._files: dict[str, h5py.File] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_files"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.ids())

    def __contains__(self, utt_id: str) -> bool:
        return (utt_id, None) in self._entries

    def ids(self) -> list[str]:
        """Utterance ids that have an original (``aug`` None) entry, in index order."""
        return [u for u, augs in self._augs.items() if None in augs]

    def augmentations(self, utt_id: str) -> list[str | None]:
        """Stored variants of ``utt_id``: ``None`` for the original, then the copies' tags."""
        if utt_id not in self._augs:
            raise SertoolError(f"utterance {utt_id!r} is not in {self.feats_dir}")
        return list(self._augs[utt_id])

    def entry(self, utt_id: str, aug: str | None = None) -> dict[str, Any]:
        """The index line of one stored matrix."""
        try:
            return self._entries[(utt_id, aug)]
        except KeyError:
            what = utt_id if aug is None else f"{utt_id} (copy {aug})"
            raise SertoolError(f"{what} is not in {self.feats_dir}") from None

    def frames(self, utt_id: str, aug: str | None = None) -> int:
        """Number of frames of one stored matrix (from the index, no file access)."""
        return int(self.entry(utt_id, aug)["frames"])

    def read(self, utt_id: str, aug: str | None = None) -> np.ndarray:
        """The float32 ``(frames, dims)`` matrix of ``utt_id`` (or its copy ``aug``)."""
        e = self.entry(utt_id, aug)
        return self._file(e["shard"])[e["key"]][()]

    def _file(self, shard: str) -> h5py.File:
        if os.getpid() != self._pid:
            # a forked child must not use its parent's HDF5 handles; forget them (not close)
            self._files = {}
            self._pid = os.getpid()
        f = self._files.get(shard)
        if f is None:
            path = self.feats_dir / shard
            try:
                f = self._files[shard] = h5py.File(path, "r", locking=False)
            except OSError as e:
                raise SertoolError(f"cannot open feature shard {path}: {e}") from None
        return f

    def close(self) -> None:
        """Close the shards this process opened."""
        for f in self._files.values():
            f.close()
        self._files = {}

    def __iter__(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(id, matrix)`` of every original utterance, in index order."""
        for utt_id in self.ids():
            yield utt_id, self.read(utt_id)
