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
        if isinstance(info, str):          # "empty audio file", "truncated audio file (...)", ...
            log.skip(info, path.name)
    report = finish(out_dir, "ravdess", utts, log, protocol="speaker-kfold", k=5, seed=0)
"""

from __future__ import annotations

import codecs
import os
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sertool.corpora.common import SUMMARY_NAME, PrepReport, finish_prep
from sertool.data.folds import PROTOCOLS, SPEAKER_INDEPENDENT_PROTOCOLS
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError
from sertool.stage import atomic_write_json

# Bumped when a preparer's output changes for the same input, so `.done` markers go stale.
PREP_VERSION = 2  # 2: truncated WAVs skipped; folder ids and speakers checked
# How many example items each skip reason or note keeps for the report.
EXAMPLES = 5
# Below this many files a process pool costs more than it saves.
MIN_PARALLEL = 512
# Peak (in 16-bit steps) at or below which a file counts as having no signal: digital silence
# or dither, never speech.
SILENCE_PEAK = 2
# The skip reason of a WAV whose header promises more samples than the file holds.
TRUNCATED = "truncated audio file (header promises more samples than the file holds)"


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
        >>> require_dir(Path("/no/such/IEMOCAP"), "IEMOCAP_full_release (Session1..5)")
        Traceback (most recent call last):
        ...
        sertool.errors.SertoolError: corpus directory not found: /no/such/IEMOCAP (expected IEMOCAP_full_release ...)
    """
    if path.exists() and not path.is_dir():
        raise SertoolError(f"{path} is a file, not a corpus directory (expected {what})")
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


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# What a user can do about a label file that does not decode (the folder corpus's own option).
ENCODING_HINT = "name the file's encoding with --encoding"
# Byte-order marks, longest first: UTF-32's little-endian mark begins with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def _text_codec(encoding: str) -> str:
    """The codec name of ``encoding``, or a one-line error for a name Python does not know as text."""
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise SertoolError(f"unknown encoding {encoding!r} (e.g. utf-8, utf-16, cp1252, gb18030)") from None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, ...: bytes-to-bytes codecs
        raise SertoolError(f"{encoding!r} is not a text encoding")
    return info.name


def _undecodable(path: Path, raw: bytes, codec: str, label: str, e: UnicodeDecodeError, hint: str) -> SertoolError:
    """The error naming the line and column (in characters) where ``raw`` stops decoding."""
    before = raw[: e.start].decode(codec, errors="replace")
    # line breaks as csv and editors count them (str.splitlines would also split at \x0c, U+2028, ...)
    lines = _LINE_BREAK.split(before)
    line, column = len(lines), len(lines[-1]) + 1
    if line == 1:
        column -= before.startswith("\ufeff")  # a byte-order mark is not a column
    bad = raw[e.start:e.end]
    what = f"byte 0x{bad[0]:02x}" if len(bad) == 1 else "bytes " + " ".join(f"0x{b:02x}" for b in bad)
    return SertoolError(f"{path.name} line {line} is not valid {label} ({what} at column {column}); {hint}")


def read_table_text(path: Path, encoding: str | None = None, hint: str = ENCODING_HINT) -> str:
    """The text of a label table (CSV), decoded strictly: never guessed into another encoding.

    Without ``encoding`` the file is UTF-8 (with or without a byte-order mark), or UTF-16/UTF-32
    when its byte-order mark says so; with ``encoding`` it is decoded as named (a leading
    byte-order mark is dropped). A byte that does not decode is a one-line
    :class:`SertoolError` naming the line, the byte and its column, then ``hint``: re-reading a
    whole file as cp1252 would turn every non-Latin label into mojibake without a word.

    Example::

        rows = csv.DictReader(io.StringIO(read_table_text(Path("labels.csv")), newline=""))
        read_table_text(Path("calls.csv"))            # cp1252 bytes in a file read as UTF-8:
        # SertoolError: calls.csv line 17 is not valid UTF-8 (byte 0xe9 at column 12); name the ...
        read_table_text(Path("calls.csv"), encoding="cp1252").splitlines()[16]  # 'call016.wav,colère,3,a0'
    """
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise SertoolError(f"{path} is a directory, not a label file") from None
    except OSError as e:
        raise SertoolError(f"cannot read {path}: {e.strerror}") from None
    if encoding is not None:
        codec, label = _text_codec(encoding), encoding
    else:
        codec, label = next(((c, lab) for bom, c, lab in _BOMS if raw.startswith(bom)), ("utf-8", "UTF-8"))
        if codec == "utf-8":
            raw = raw.removeprefix(codecs.BOM_UTF8)
            if b"\0" in raw:
                # a text table never holds NUL bytes; UTF-16 without its byte-order mark is full of them
                line = len(_LINE_BREAK.split(raw[: raw.index(b"\0")].decode(codec, errors="replace")))
                raise SertoolError(f"{path.name} line {line} holds NUL bytes (UTF-16 without a byte-order "
                                   f"mark?); {hint}")
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as e:
        raise _undecodable(path, raw, codec, label, e, hint) from None
    return text.removeprefix("\ufeff")


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
    from sertool.audio import audio_info, check_truncated

    path, check_signal = job
    try:
        if os.path.isdir(path):
            return "a directory, not an audio file"
        if os.path.getsize(path) == 0:
            return "empty audio file"
        duration, sample_rate = audio_info(path)
    except FileNotFoundError:
        return "audio file missing"
    except (OSError, SertoolError):
        return "unreadable audio file"
    if duration <= 0:
        return "empty audio file"
    # libsndfile opens a WAV cut short and reports the frames present: its label would describe
    # audio that is not there, so it is skipped like an unreadable file, under its own reason.
    if check_truncated(path) is not None:
        return TRUNCATED
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

    Only the header is read (soundfile's, and a WAV's chunk sizes, which tell a truncated file),
    except with ``check_signal``, which reads blocks until one is louder than digital silence.
    ``jobs`` > 1 spreads large lists over processes.

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


def fold_options(protocol: str, k: int, seed: int, repeats: int = 1, dev: str = "speakers") -> dict:
    """The :func:`~sertool.data.folds.make_folds` options ``protocol`` uses (recorded in folds.json).

    ``dev`` is recorded only when it is not the default (``--dev none``).
    """
    extra = {} if dev == "speakers" else {"dev": dev}
    if protocol == "speaker-kfold":
        return {"k": k, "seed": seed, **extra}
    if protocol == "stratified-kfold":
        return {"k": k, "seed": seed, "repeats": repeats, **extra}
    if protocol in ("leave-one-session-out", "leave-one-speaker-out"):
        return {"seed": seed, **extra}  # picks the dev speakers
    return extra


def finish(
    out_dir: str | Path,
    corpus: str,
    utts: list[Utterance],
    log: PrepLog,
    protocol: str,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
) -> PrepReport:
    """Write everything through :func:`finish_prep`, then say whether the folds are speaker-independent.

    The leakage check is on the folds actually made, so a corpus split that shares speakers
    (ESD) is reported as such, and one that does not (LibriSpeech) is not. ``dev`` is
    ``speakers`` (each protocol's own dev set) or ``none`` (empty dev lists).
    """
    utts = drop_duplicates(utts, log)
    report = finish_prep(
        out_dir, corpus, utts, log.skipped, protocol, warnings=log.warnings(),
        **fold_options(protocol, k, seed, repeats, dev),
    )
    leaking = report.leaking_folds()
    if leaking:
        report.warnings.append(
            f"protocol {report.protocol} is not speaker-independent: {len(leaking)} of {len(report.folds)} folds "
            "have test speakers in train/dev"
        )
    elif report.protocol not in (*SPEAKER_INDEPENDENT_PROTOCOLS, "corpus-split"):
        report.warnings.append(f"protocol {report.protocol} is not speaker-independent by design, though no fold "
                               "of this corpus has a test speaker in train/dev")
    atomic_write_json(Path(out_dir) / SUMMARY_NAME, asdict(report))
    return report
