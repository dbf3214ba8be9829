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
