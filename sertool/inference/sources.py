"""What ``sertool infer`` reads: audio files, directories, list files and manifests, as one list of clips.

Each input argument is one of

* a **directory**: every audio file under it, recursively, in sorted order, whose extension is one
  soundfile reads (:func:`audio_extensions`); hidden files and directories (``.name``) are skipped;
* a **list file** ``@clips.txt``: one path a line (blank lines and ``#`` comments skipped), a
  relative path being relative to the list file; ``@-`` reads the list from standard input;
* a **manifest** ``*.jsonl``: one JSON object a line, its ``audio`` field the clip (relative to
  the manifest), its ``speaker`` (for per-speaker normalisation) and ``id`` kept;
* anything else: **one audio file**, whatever its extension.

A clip that is known to fail before it is read (a directory or a bad line in a list or manifest)
is still a :class:`Source`, with its ``error``: ``sertool infer`` answers every input, with an
answer or an error record, never by silence.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     root = Path(d)
    ...     for name in ("a.wav", "sub/b.FLAC", "notes.txt", ".hidden/c.wav"):
    ...         (root / name).parent.mkdir(parents=True, exist_ok=True)
    ...         _ = (root / name).write_bytes(b"")
    ...     _ = (root / "list.txt").write_text("a.wav\\n# a comment\\n\\nsub\\n")
    ...     found = [(Path(s.path).relative_to(root).as_posix(), s.error)
    ...              for s in expand_inputs([root, f"@{root / 'list.txt'}"])]
    >>> found
    [('a.wav', None), ('sub/b.FLAC', None), ('a.wav', None), ('sub', '.../sub is a directory, not an audio file')]
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sertool.errors import SertoolError

# Formats soundfile lists that are not recordings one finds in a folder of clips: headerless RAW
# needs its layout given, HTK and MAT files are more often features and MATLAB data than audio.
_NOT_CLIPS = {"RAW", "HTK", "MAT4", "MAT5"}
# Other extensions of the formats soundfile lists by name.
_ALIASES = {"AIFF": ("aif", "aifc"), "OGG": ("oga", "opus"), "WAV": ("wave",), "IRCAM": ("sf",), "NIST": ("sph",)}


@functools.cache
def audio_extensions() -> frozenset[str]:
    """Lower-case file extensions (no dot) of the formats ``soundfile.available_formats()`` lists.

    Example:
        >>> {"wav", "flac", "ogg"} <= audio_extensions(), "raw" in audio_extensions()
        (True, False)
    """
    import soundfile as sf

    exts: set[str] = set()
    for name in sf.available_formats():
        if name not in _NOT_CLIPS:
            exts.add(name.lower())
            exts.update(_ALIASES.get(name, ()))
    return frozenset(exts)


@dataclass
class Source:
    """One clip to answer: its path as it will be reported, and what a manifest said of it."""

    path: str
    speaker: str | None = None
    id: str | None = None
    error: str | None = None  # known to fail before reading (a directory, a bad list or manifest line)


def _file(path: Path, **kw) -> Source:
    if path.is_dir():
        return Source(str(path), error=f"{path} is a directory, not an audio file", **kw)
    return Source(str(path), **kw)


def walk_directory(root: Path) -> Iterator[Source]:
    """Every audio file under ``root`` (sorted, hidden entries skipped, symbolic links to folders not followed)."""
    exts = audio_extensions()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.rpartition(".")[2].lower() in exts and "." in name:
                yield Source(str(Path(dirpath) / name))


def read_list(spec: str, stdin: TextIO | None = None) -> Iterator[Source]:
    """The clips of a list file (``spec`` without its ``@``; ``-`` is standard input)."""
    if spec == "-":
        base, lines = Path.cwd(), (stdin or sys.stdin).read().splitlines()
    else:
        path = Path(spec)
        if not path.is_file():
            raise SertoolError(f"list file not found: {path}" if not path.exists() else f"{path} is not a file")
        base, lines = path.parent, path.read_text(encoding="utf-8-sig").splitlines()
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            yield _file(base / Path(entry).expanduser())


def read_manifest_sources(path: Path) -> Iterator[Source]:
    """The clips of a JSON-lines manifest: ``audio`` (relative to the manifest), ``speaker`` and ``id``."""
    if not path.is_file():
        raise SertoolError(f"manifest not found: {path}")
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                audio = entry["audio"]
                if not isinstance(audio, str) or not audio:
                    raise TypeError
            except json.JSONDecodeError as e:
                yield Source(f"{path}:{n}", error=f"manifest line {n} is not JSON: {e.msg}")
                continue
            except (KeyError, TypeError):
                yield Source(f"{path}:{n}", error=f"manifest line {n} has no 'audio' path")
                continue
            speaker, utt_id = entry.get("speaker"), entry.get("id")
            yield _file(path.parent / audio, speaker=speaker if isinstance(speaker, str) else None,
                        id=str(utt_id) if utt_id is not None else None)


def expand_inputs(inputs: Iterable[str | Path], stdin: TextIO | None = None,
                  warn: Callable[[str], None] | None = None) -> list[Source]:
    """Every clip the inputs name, in order (see the module docstring).

    A directory without audio files is reported through ``warn``; a missing list file or
    manifest is a :class:`SertoolError` (what it lists is unknown, so nothing could be answered).
    """
    out: list[Source] = []
    for item in inputs:
        text = str(item)
        if text.startswith("@"):
            out.extend(read_list(text[1:], stdin))
            continue
        path = Path(text)
        if path.is_dir():
            found = list(walk_directory(path))
            if not found and warn is not None:
                warn(f"no audio files in {path} (looked for {', '.join(sorted(audio_extensions()))})")
            out.extend(found)
        elif path.suffix.lower() == ".jsonl":
            out.extend(read_manifest_sources(path))
        else:
            out.append(Source(text))
    return out


def spread(count: int, n: int) -> list[int]:
    """``n`` indices of a list of ``count`` spread evenly over it: the first and the last when ``n`` ≥ 2.

    ``n`` ≥ ``count`` takes every index; ``n`` = 1 takes the first.

    Example:
        >>> spread(10, 2), spread(10, 4), spread(3, 5), spread(7, 1)
        ([0, 9], [0, 3, 6, 9], [0, 1, 2], [0])
    """
    if n < 1:
        raise SertoolError(f"--held-out needs at least 1 clip, got {n}")
    if n >= count:
        return list(range(count))
    if n == 1:
        return [0]
    # steps of (count-1)/(n-1) >= 1 round to distinct, increasing indices
    return [round(i * (count - 1) / (n - 1)) for i in range(n)]


def held_out_sources(cfg, fold: str, n: int) -> list[Source]:
    """``n`` clips of the test set of ``fold`` of the experiment ``cfg`` (an ``ExperimentConfig``), spread evenly.

    The test set is what ``sertool eval`` scores: the fold's ``test`` list in ``data.folds`` and,
    for a corpus with its own folds file, that file's fold at the same position (the files are
    paired fold by fold), restricted to the utterances a corpus's ``languages``/``emotions``
    filters keep. The clips are named by their manifest's audio path, with no speaker, so the
    records are those ``sertool infer EXP CLIP...`` prints for the same paths. This replaces
    picking test clips by hand in a recipe (``recipes/synthetic/run.sh`` stage 5).

    Example:
        >>> import tempfile
        >>> from sertool.data.folds import Fold, write_folds
        >>> from sertool.testing.audio import make_corpus
        >>> from sertool.train.config import build_config
        >>> with tempfile.TemporaryDirectory() as d:
        ...     manifest = make_corpus(Path(d), num_utts=6)
        ...     ids = [f"synthetic/utt{i:04d}" for i in range(6)]
        ...     write_folds(Path(d) / "folds.json", "custom", [Fold("a", ids[:2], [], ids[2:])])
        ...     cfg = build_config({"data": {"manifests": [str(manifest)], "folds": str(Path(d) / "folds.json")},
        ...                         "tasks": {"emotion": {"type": "emotion"}}})
        ...     clips = [Path(s.path).name for s in held_out_sources(cfg, "a", 3)]
        >>> clips
        ['utt0002.wav', 'utt0004.wav', 'utt0005.wav']
    """
    from sertool.data.folds import read_folds
    from sertool.data.manifest import read_manifest
    from sertool.train.sources import filter_utterances

    if n < 1:
        raise SertoolError(f"--held-out needs at least 1 clip, got {n}")
    _, folds = read_folds(cfg.data.folds)
    names = [f.name for f in folds]
    if fold not in names:
        raise SertoolError(f"the model's fold {fold!r} is not in {cfg.data.folds} (folds: {', '.join(names)})")
    index = names.index(fold)
    test: list[str] = []
    audio: dict[str, str] = {}
    for src in cfg.data.sources():
        audio.update((u.id, u.audio) for u in filter_utterances(read_manifest(src.path), src))
        own = read_folds(src.folds)[1] if src.folds else []
        if index < len(own):  # paired with data.folds by position (a mismatch is refused at training)
            test.extend(own[index].test)
    test = list(dict.fromkeys([*folds[index].test, *test]))
    clips = [audio[i] for i in test if i in audio]
    if not clips:
        raise SertoolError(f"fold {fold} of {cfg.data.folds} has no test utterance in the experiment's manifests")
    return [Source(clips[i]) for i in spread(len(clips), n)]
