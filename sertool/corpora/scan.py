"""What the corpus preparers share beyond :mod:`sertool.corpora.common`: probing audio headers,
counting what was skipped and why, and finishing with the speaker-independence check.

A preparer walks its corpus, records every file or label line it cannot use in a
:class:`PrepLog` (a reason and an example each, so nothing is dropped uncounted), probes the
audio it keeps with :func:`probe_audio` (a header read per file, in a process pool for large
corpora) and hands the utterances to :func:`finish`.

Example::

    log, paths = PrepLog(), [Path("a.wav"), Path("b.wav")]
    infos = probe_audio(paths, jobs=1)
    for path, info in zip(paths, infos):
        if isinstance(info, str):          # "empty audio file", "unreadable audio file", ...
            log.skip(info, path.name)
    report = finish(out_dir, "ravdess", utts, log, protocol="speaker-kfold", k=5, seed=0)
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from sertool.corpora.common import SUMMARY_NAME, PrepReport, finish_prep
from sertool.data.folds import PROTOCOLS
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.stage import atomic_write_json

# Bumped when a preparer's output changes for the same input, so `.done` markers go stale.
PREP_VERSION = 1
# How many example items each skip reason or note keeps for the report.
EXAMPLES = 5
# Below this many files a process pool costs more than it saves.
MIN_PARALLEL = 512
# Peak (in 16-bit steps) at or below which a file counts as having no signal: digital silence
# or dither, never speech.
SILENCE_PEAK = 2


@dataclass
class PrepLog:
    """Skipped items by reason and kept-but-noteworthy items, each with a few examples.

    Example:
        >>> log = PrepLog()
        >>> log.skip("no signal", "AudioWAV/1076_MTI_SAD_XX.wav")
        >>> log.note("utterances without a transcript (kept, text null)", "Ses01F_impro01_F005")
        >>> log.skipped, log.warnings()[0]
        (Counter({'no signal': 1}), 'skipped 1 (no signal), e.g. AudioWAV/1076_MTI_SAD_XX.wav')
    """

    skipped: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def _example(self, key: str, example: str | None) -> None:
        if example is not None and len(self.examples[key]) < EXAMPLES:
            self.examples[key].append(example)

    def skip(self, reason: str, example: str | None = None, n: int = 1) -> None:
        """Count ``n`` items left out of the manifest for ``reason``."""
        self.skipped[reason] += n
        self._example(reason, example)

    def note(self, what: str, example: str | None = None, n: int = 1) -> None:
        """Count ``n`` items kept in the manifest that the user should still hear about."""
        self.notes[what] += n
        self._example(what, example)

    def warn(self, message: str) -> None:
        """A one-off warning for the summary (e.g. a known corpus size that differs)."""
        self.messages.append(message)

    def warnings(self) -> list[str]:
        """Every skip reason and note with its examples, then the one-off warnings."""
        def eg(key: str) -> str:
            return f", e.g. {', '.join(self.examples[key])}" if self.examples[key] else ""

        return (
            [f"skipped {n} ({reason}){eg(reason)}" for reason, n in sorted(self.skipped.items())]
            + [f"{n} {what}{eg(what)}" for what, n in sorted(self.notes.items())]
            + self.messages
        )


def require_dir(path: Path, what: str) -> Path:
    """``path`` resolved, or a one-line error naming what was expected there.

    Example:
        >>> require_dir(Path("/no/such/IEMOCAP_full_release"), "IEMOCAP_full_release (Session1..5)")
        Traceback (most recent call last):
        ...
        sertool.errors.SertoolError: corpus directory not found: /no/such/IEMOCAP_full_release (expected IEMOCAP_full_release (Session1..5))
    """
    if not path.is_dir():
        raise SertoolError(f"corpus directory not found: {path} (expected {what})")
    return path.resolve()


def read_lines(path: Path, encodings: Sequence[str] = ("utf-8-sig", "cp1252")) -> list[str]:
    """Lines of a metadata file in the first of ``encodings`` that decodes it without error.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = (Path(d) / "SPEAKERS.TXT").write_bytes("; Café readers\\r\\n19 | F\\r\\n".encode("cp1252"))
        ...     lines = read_lines(Path(d) / "SPEAKERS.TXT")     # not UTF-8: read as cp1252
        >>> lines
        ['; Café readers', '19 | F']
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SertoolError(f"cannot read {path}: {e.strerror}") from None
    for encoding in encodings:
        try:
            return raw.decode(encoding).splitlines()
        except UnicodeDecodeError:
            continue
    raise SertoolError(f"cannot decode {path} as {' or '.join(encodings)}")


def check_protocol(protocol: str, allowed: Sequence[str], corpus: str) -> None:
    """Fail before any work when ``protocol`` is unknown or makes no sense for ``corpus``."""
    if protocol not in PROTOCOLS:
        raise SertoolError(f"unknown fold protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    if protocol not in allowed:
        raise SertoolError(f"protocol {protocol!r} does not apply to {corpus} (use one of: {', '.join(allowed)})")


def visible(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without hidden entries: macOS ``._*`` resource forks, ``.DS_Store`` and the like."""
    return sorted(p for p in paths if not p.name.startswith("."))


def _has_signal(path: str) -> bool:
    """True as soon as one block of samples rises above digital silence (reads little of a file)."""
    import numpy as np
    import soundfile as sf

    for block in sf.blocks(path, blocksize=16384, dtype="int16", always_2d=True):
        if block.size and int(np.abs(block.astype(np.int32)).max()) > SILENCE_PEAK:
            return True
    return False


def _probe_one(job: tuple[str, bool]) -> tuple[float, int] | str:
    """(duration, sample rate) of one file, or why it cannot be used."""
    from sertool.audio import audio_info

    path, check_signal = job
    try:
        if os.path.getsize(path) == 0:
            return "empty audio file"
        duration, sample_rate = audio_info(path)
    except FileNotFoundError:
        return "audio file missing"
    except (OSError, SertoolError):
        return "unreadable audio file"
    if duration <= 0:
        return "empty audio file"
    if check_signal:
        try:
            if not _has_signal(path):
                return "no signal"
        except (RuntimeError, OSError):
            return "unreadable audio file"
    return duration, sample_rate


def probe_audio(
    paths: Sequence[Path], jobs: int = 1, check_signal: bool = False, min_parallel: int = MIN_PARALLEL
) -> list[tuple[float, int] | str]:
    """Header facts of every file, in order: ``(duration, sample_rate)`` or a skip reason.

    Only the header is read (soundfile), except with ``check_signal``, which reads blocks until
    one is louder than digital silence. ``jobs`` > 1 spreads large lists over processes.

    Example:
        >>> import tempfile
        >>> from sertool.testing.audio import write_wav
        >>> with tempfile.TemporaryDirectory() as d:
        ...     paths = [write_wav(Path(d) / "ok.wav"), write_wav(Path(d) / "quiet.wav", silent=True),
        ...              Path(d) / "empty.wav", Path(d) / "gone.wav"]
        ...     _ = paths[2].write_bytes(b"")
        ...     headers, signal = probe_audio(paths), probe_audio(paths, check_signal=True)
        >>> headers
        [(0.2, 16000), (0.2, 16000), 'empty audio file', 'audio file missing']
        >>> signal[1]
        'no signal'
    """
    work = [(str(p), check_signal) for p in paths]
    from sertool.console import progress  # rich bar on a terminal, silent otherwise

    if jobs > 1 and len(work) >= min_parallel:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            return list(progress(pool.map(_probe_one, work, chunksize=64), "reading audio headers", len(work)))
    return [_probe_one(w) for w in progress(work, "reading audio headers", len(work))]


def drop_duplicates(utts: list[Utterance], log: PrepLog) -> list[Utterance]:
    """Keep the first utterance of each id (two files mapping to one id), counting the rest."""
    seen: set[str] = set()
    kept = []
    for u in utts:
        if u.id in seen:
            log.skip("duplicate utterance id", u.audio)
            continue
        seen.add(u.id)
        kept.append(u)
    return kept


def fold_options(protocol: str, k: int, seed: int, repeats: int = 1) -> dict:
    """The :func:`~sertool.data.folds.make_folds` options ``protocol`` uses (recorded in folds.json)."""
    if protocol == "speaker-kfold":
        return {"k": k, "seed": seed}
    if protocol == "stratified-kfold":
        return {"k": k, "seed": seed, "repeats": repeats}
    if protocol in ("leave-one-session-out", "leave-one-speaker-out"):
        return {"seed": seed}  # picks the dev speakers
    return {}


def finish(
    out_dir: str | Path,
    corpus: str,
    utts: list[Utterance],
    log: PrepLog,
    protocol: str,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
) -> PrepReport:
    """Write everything through :func:`finish_prep`, then say whether the folds are speaker-independent.

    The leakage check is on the folds actually made, so a corpus split that shares speakers
    (ESD) is reported as such, and one that does not (LibriSpeech) is not.
    """
    utts = drop_duplicates(utts, log)
    report = finish_prep(
        out_dir, corpus, utts, log.skipped, protocol, warnings=log.warnings(),
        **fold_options(protocol, k, seed, repeats),
    )
    leaking = report.leaking_folds()
    if leaking:
        report.warnings.append(
            f"protocol {protocol} is not speaker-independent: {len(leaking)} of {len(report.folds)} folds "
            "have test speakers in train/dev"
        )
    atomic_write_json(Path(out_dir) / SUMMARY_NAME, asdict(report))
    return report
