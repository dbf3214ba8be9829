"""The manifest contract: one JSON object per utterance in ``manifest.jsonl``.

Fields and their meaning are fixed by DESIGN.md (section "Manifest contract"); this module
is the one place that reads, writes and validates them.

Example:
    >>> u = Utterance(id="x/a0", corpus="x", audio="/x/a0.wav", duration=2.5, sample_rate=16000, speaker="x/a",
    ...               gender="F", language="en", session=None, style="acted", emotion="angry", extra={"take": 2})
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     write_manifest(Path(d) / "manifest.jsonl", [u])
    ...     line = (Path(d) / "manifest.jsonl").read_text(encoding="utf-8")
    ...     back = read_manifest(Path(d) / "manifest.jsonl")
    >>> line[:60], back == [u]
    ('{"id": "x/a0", "corpus": "x", "audio": "/x/a0.wav", "duratio', True)
    >>> validate_utterance(Utterance(id="a0", corpus="x", audio="a0.wav", duration=2.5, sample_rate=16000,
    ...                              speaker="x/a", gender="F", language="en", session=None, style="acted"))
    ["a0: id must be '<corpus>/<native id>', got 'a0'", "a0: audio must be an absolute path, got 'a0.wav'"]
    >>> validate_manifest([u, u])
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: invalid manifest: x/a0: duplicate id
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sertool.data.labels import CANONICAL_EMOTIONS, INTENSITY_LEVELS, SEQM_CATEGORIES
from sertool.errors import SertoolError
from sertool.stage import atomic_path

STYLES = ("acted", "spontaneous", "read", "synthetic")
SPLITS = ("train", "dev", "test")


@dataclass
class Utterance:
    """One manifest line. See DESIGN.md for each field's meaning."""

    id: str
    corpus: str
    audio: str
    duration: float
    sample_rate: int
    speaker: str
    gender: str | None
    language: str
    session: str | None
    style: str
    text: str | None = None
    phones: list[str] | None = None
    emotion: str | None = None
    emotion_raw: str | None = None
    intensity: str | None = None
    esc: str | None = None
    eis: float = -1.0
    vad: list[float] | None = None
    split: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to the manifest (``extra`` only when non-empty)."""
        d = dataclasses.asdict(self)
        if not d["extra"]:
            del d["extra"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Utterance:
        """Build from a manifest line's object; unknown keys go to ``extra``."""
        names = {f.name for f in dataclasses.fields(cls)}
        known = {k: v for k, v in d.items() if k in names}
        extra = {k: v for k, v in d.items() if k not in names}
        utt = cls(**known)
        utt.extra.update(extra)
        return utt


def validate_utterance(u: Utterance) -> list[str]:
    """Every way ``u`` breaks the contract, as readable messages (empty when valid)."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        problems.append(f"{u.id or '<no id>'}: {msg}")

    if not u.id or "/" not in u.id or not u.id.startswith(f"{u.corpus}/"):
        bad(f"id must be '<corpus>/<native id>', got {u.id!r}")
    if not Path(u.audio).is_absolute():
        bad(f"audio must be an absolute path, got {u.audio!r}")
    if not (isinstance(u.duration, (int, float)) and u.duration > 0 and math.isfinite(u.duration)):
        bad(f"duration must be a positive number of seconds, got {u.duration!r}")
    if not (isinstance(u.sample_rate, int) and u.sample_rate > 0):
        bad(f"sample_rate must be a positive int, got {u.sample_rate!r}")
    if not u.speaker.startswith(f"{u.corpus}/"):
        bad(f"speaker must be '<corpus>/<speaker>', got {u.speaker!r}")
    if u.gender not in ("F", "M", None):
        bad(f"gender must be 'F', 'M' or null, got {u.gender!r}")
    if not (isinstance(u.language, str) and len(u.language) == 2):
        bad(f"language must be an ISO 639-1 code, got {u.language!r}")
    if u.style not in STYLES:
        bad(f"style must be one of {STYLES}, got {u.style!r}")
    if u.phones is not None and not all(isinstance(p, str) for p in u.phones):
        bad("phones must be a list of strings")
    if u.emotion is not None and u.emotion not in CANONICAL_EMOTIONS:
        bad(f"emotion {u.emotion!r} is not canonical ({' '.join(CANONICAL_EMOTIONS)})")
    if u.intensity is not None and u.intensity not in INTENSITY_LEVELS:
        bad(f"intensity must be one of {INTENSITY_LEVELS} or null, got {u.intensity!r}")
    if u.esc is not None and u.esc not in SEQM_CATEGORIES:
        bad(f"esc {u.esc!r} is not a SEQM category")
    if not isinstance(u.eis, (int, float)) or not (u.eis == -1 or 0 <= u.eis <= 4):
        bad(f"eis must be in [0, 4] or -1, got {u.eis!r}")
    if u.esc is None and u.eis != -1:
        bad("eis must be -1 where esc is null")
    if u.vad is not None and (len(u.vad) != 3 or not all(isinstance(x, (int, float)) for x in u.vad)):
        bad(f"vad must be 3 numbers or null, got {u.vad!r}")
    if u.split is not None and u.split not in SPLITS:
        bad(f"split must be one of {SPLITS} or null, got {u.split!r}")
    return problems


def validate_manifest(utts: Iterable[Utterance]) -> None:
    """Raise :class:`SertoolError` naming the first problems of an invalid manifest."""
    problems: list[str] = []
    seen: set[str] = set()
    for u in utts:
        problems.extend(validate_utterance(u))
        if u.id in seen:
            problems.append(f"{u.id}: duplicate id")
        seen.add(u.id)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise SertoolError("invalid manifest: " + "; ".join(problems[:3]) + more)


def read_manifest(path: str | Path, validate: bool = True) -> list[Utterance]:
    """Read a ``manifest.jsonl``; malformed lines raise with their line number."""
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"manifest not found: {path}")
    utts = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                utts.append(Utterance.from_dict(json.loads(line)))
            except (ValueError, TypeError) as e:
                raise SertoolError(f"{path}:{lineno}: malformed manifest line ({e})") from None
    if validate:
        validate_manifest(utts)
    return utts


def read_manifests(paths: Iterable[str | Path]) -> list[Utterance]:
    """Read several manifests into one list; ids must stay unique across them."""
    utts = [u for p in paths for u in read_manifest(p, validate=False)]
    validate_manifest(utts)
    return utts


def write_manifest(path: str | Path, utts: Iterable[Utterance]) -> None:
    """Validate and write a manifest atomically, one JSON object per line."""
    utts = list(utts)
    validate_manifest(utts)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for u in utts:
            f.write(json.dumps(u.to_dict(), ensure_ascii=False) + "\n")
