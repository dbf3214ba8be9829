"""A corpus of one's own (SEQD-like acted speech, call-centre recordings) → manifest, folds,
token inventories, from a directory of audio and a CSV describing it.

CSV columns (header row, any order, case-insensitive): ``path`` (relative to the corpus
directory, or absolute) and ``emotion`` are required; ``intensity``, ``speaker``, ``gender``,
``text``, ``language``, ``session`` and ``split`` are optional. Emotions may be any spelling of
:data:`~sertool.data.labels.EMOTION_ALIASES` or a SEQM category (``trust`` and ``anticipation``
keep their SEQM category; their canonical emotion is ``other``); an empty emotion cell leaves the
utterance unlabelled. Intensities are ``low/medium/high`` (MsUD 1.5/2.5/3.5), ``normal/strong``
(2/3), or numbers rescaled onto [1, 4] from ``rating_range``.

The CSV is UTF-8 (with or without a byte-order mark), UTF-16 by its byte-order mark, or in the
``encoding`` named; a line that does not decode is an error naming it, never a guess. What the
CSV leaves unclear is reported, not resolved in silence: a row without a speaker (left out for
speaker-independent folds, kept as speaker ``unknown`` otherwise), a file listed twice with
different emotions (left out: neither label can be trusted; a repeat with the same emotion, or an
empty one, is counted as listed twice and the first row kept) and files whose paths differ only
in their extension (``x.wav`` and ``x.flac``: both kept, their ids keep the extension).

Example (``labels.csv``)::

    path,emotion,intensity,speaker,gender,text,language
    spk01/angry_001.wav,anger,high,spk01,F,我真的受够了,zh
    spk01/trust_004.wav,trust,low,spk01,F,交给你我放心,zh

Preparing it::

    report = prepare_folder("corpora/seqd", "data/seqd", csv_path="corpora/seqd/labels.csv",
                            name="seqd", style="acted", encoding=None)
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from sertool.corpora.common import PrepReport
from sertool.corpora.registry import BUILT_IN as REGISTERED
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, read_table_text, require_dir
from sertool.data.folds import PROTOCOLS as ALL_PROTOCOLS
from sertool.data.labels import canonical_emotion, eis_from_level, eis_from_rating, esc_of_label, unify
from sertool.data.manifest import SPLITS, STYLES, Utterance
from sertool.errors import SertoolError
from sertool.stage import require_writable_dir

PROTOCOLS = tuple(p for p in ALL_PROTOCOLS if p not in ("casia-10fold", "dialog-10fold"))  # CASIA's, IEMOCAP's
DEFAULT_PROTOCOL = "speaker-kfold"
# Audio and CSV files only: an OUT_DIR placed inside the corpus directory must not change it.
FINGERPRINT = tuple(f"*.{ext}" for ext in ("wav", "WAV", "flac", "ogg", "opus", "mp3", "aif", "aiff", "au", "csv"))
LAYOUT = "a directory of audio files"  # what CORPUS_DIR must be, for error messages
REQUIRED = ("path", "emotion")
OPTIONAL = ("intensity", "speaker", "gender", "text", "language", "session", "split")
LEVELS = {"low": 3, "medium": 3, "high": 3, "normal": 2, "strong": 2}
GENDERS = {"f": "F", "female": "F", "m": "M", "male": "M"}
# A corpus of one's own may not take a built-in corpus's name: their ids and speakers would mix.
BUILT_IN = tuple(name for name in REGISTERED if name != "folder")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
UNKNOWN_SPEAKER = "unknown"
# Protocols whose folds do not depend on who speaks: rows without a speaker can stay.
SPEAKERLESS_PROTOCOLS = ("stratified-kfold", "corpus-split")


def parse_rating_range(text: str | None) -> tuple[float, float] | None:
    """``(LOW, HIGH)`` of a ``--rating-range`` value ``"LOW,HIGH"``; None stays None.

    Example:
        >>> parse_rating_range("1,5"), parse_rating_range(None)
        ((1.0, 5.0), None)
    """
    if text is None:
        return None
    try:
        low, high = (float(x) for x in text.split(","))
    except ValueError:
        raise SertoolError(f"--rating-range must be LOW,HIGH, got {text!r}") from None
    if not low < high:
        raise SertoolError(f"--rating-range needs LOW < HIGH, got {text!r}")
    return low, high


def default_name(corpus_dir: str | Path) -> str:
    """The corpus name a directory gives by default: its name, lower-cased, other characters as '-'.

    Example:
        >>> default_name("/data/SEQD v2"), default_name("/data/語料")
        ('seqd-v2', 'custom')
    """
    return re.sub(r"[^a-z0-9._-]+", "-", Path(corpus_dir).resolve().name.lower()).strip("-") or "custom"


def resolve_inputs(options: dict[str, Any]) -> tuple[dict[str, Any], list[Path]]:
    """``options`` with ``csv_path`` made absolute, and the files outside the corpus directory read.

    A label CSV may live outside the corpus directory, so its digest joins the ``.done`` marker's
    fingerprint (:func:`~sertool.corpora.prepare.prepare_corpus` calls this). Without
    ``csv_path`` the CSV is ``CORPUS_DIR/labels.csv``, already fingerprinted with the corpus.
    """
    if options.get("csv_path") is None:
        return options, []
    csv_path = Path(options["csv_path"]).resolve()
    if not csv_path.is_file():
        raise SertoolError(f"label CSV not found: {csv_path}")
    return {**options, "csv_path": csv_path}, [csv_path]


def parse_intensity(value: str, rating_range: tuple[float, float] | None) -> tuple[str | None, float | None]:
    """``(intensity level or None, MsUD score or None)`` of an intensity cell.

    Example:
        >>> parse_intensity("High", None), parse_intensity("4", (1, 7))
        (('high', 3.5), (None, 2.5))
    """
    value = value.strip().lower()
    if not value:
        return None, None
    if value in LEVELS:
        return value, eis_from_level(value, LEVELS[value])
    try:
        number = float(value)
    except ValueError:
        raise SertoolError(f"unknown intensity {value!r} (low/medium/high, normal/strong or a number)") from None
    if rating_range is None:
        raise SertoolError(f"numeric intensity {value!r} needs --rating-range LOW,HIGH")
    return None, eis_from_rating(number, *rating_range)


class _BadRow(Exception):
    """A CSV cell that cannot be used: the skip reason and the offending value."""

    def __init__(self, reason: str, value: str):
        super().__init__(reason)
        self.reason, self.value = reason, value


def _row_labels(row: dict[str, str], language: str, rating_range: tuple[float, float] | None) -> dict:
    """The label fields of one CSV row (emotion, esc, eis, intensity, gender, language, split)."""
    raw = row["emotion"] or None
    try:
        emotion = canonical_emotion(raw) if raw else None
    except SertoolError:
        raise _BadRow("unknown emotion label", raw) from None
    try:
        level, level_eis = parse_intensity(row.get("intensity", ""), rating_range)
    except SertoolError:
        raise _BadRow("unknown intensity" if rating_range or not _is_number(row["intensity"])
                      else "numeric intensity without --rating-range", row["intensity"]) from None
    esc, eis = unify(emotion, level_eis, esc=esc_of_label(raw) if raw else None)
    gender = None
    if row.get("gender"):
        gender = GENDERS.get(row["gender"].lower())
        if gender is None:
            raise _BadRow("unknown gender (F, M, female, male or empty)", row["gender"])
    lang = row.get("language") or language
    if not re.fullmatch(r"[a-z]{2}", lang):
        raise _BadRow("language not an ISO 639-1 code", lang)
    split = row.get("split") or None
    if split is not None and split not in SPLITS:
        raise _BadRow("unknown split (train, dev or test)", split)
    return {"emotion": emotion, "emotion_raw": raw, "intensity": level, "esc": esc, "eis": eis, "gender": gender,
            "language": lang, "split": split}


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_csv(path: Path, encoding: str | None = None) -> tuple[list[tuple[int, dict[str, str]]], dict[str, str]]:
    """``(line number, row keyed by lower-cased column)`` of every row, and the column names present.

    Line numbers are the file's (a quoted cell may span lines), so reports point at the right line.
    """
    if path.is_dir():
        raise SertoolError(f"label CSV {path} is a directory, not a file")
    if not path.is_file():
        raise SertoolError(f"label CSV not found: {path}")
    reader = csv.DictReader(io.StringIO(read_table_text(path, encoding), newline=""))
    try:
        columns = {(c or "").strip().lower(): c for c in reader.fieldnames or ()}
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise SertoolError(f"{path}: missing column(s) {', '.join(missing)} "
                               f"(found: {', '.join(columns) or 'none'})")
        rows = []
        for row in reader:
            # the reader stands at the row's last line; a quoted cell may have spanned several
            breaks = sum(len(re.findall(r"\r\n|\r|\n", v)) for v in row.values() if isinstance(v, str))
            rows.append((reader.line_num - breaks,
                         {key: (row.get(col) or "").strip() for key, col in columns.items()}))
    except csv.Error as e:
        raise SertoolError(f"{path.name} line {reader.line_num}: not a CSV row ({e})") from None
    return rows, columns


def _emotion_key(raw: str) -> tuple[str | None, str | None] | str:
    """What two rows must share to give a file the same emotion: canonical emotion and SEQM category
    (``anger`` and ``angry`` agree; ``trust`` and ``anticipation``, both ``other``, do not)."""
    try:
        return canonical_emotion(raw), esc_of_label(raw)
    except SertoolError:  # an unknown label: reported later, compared as written
        return raw.lower()


def _native(audio: Path, root: Path, suffix: bool = False) -> str:
    """The id of ``audio`` within the corpus: its path under ``root`` (its name when outside),
    without the extension unless ``suffix``."""
    try:
        rel = audio.relative_to(root)
    except ValueError:  # absolute path outside the corpus directory
        rel = Path(audio.name)
    return (rel if suffix else rel.with_suffix("")).as_posix()


def unique_ids(paths: list[Path], root: Path) -> tuple[dict[Path, str], list[Path]]:
    """Corpus-local ids of ``paths``, unique, and the paths that needed their extension to be.

    An id is the path under ``root`` without extension; files whose ids would clash (``x.wav``
    and ``x.flac``, or same-named files outside ``root``) keep their extension instead, and a clash
    still left gets ``~2``, ``~3`` in path order. Ids depend only on the paths listed, never on
    row order or on which files turn out readable.

    Example::

        unique_ids([root / "a/x.wav", root / "b/x.wav", root / "y.wav", root / "y.flac"], root)
        # ({.../a/x.wav: 'a/x', .../b/x.wav: 'b/x', .../y.wav: 'y.wav', .../y.flac: 'y.flac'},
        #  [.../y.flac, .../y.wav])
    """
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in paths:
        groups[_native(path, root)].append(path)
    ids = {ps[0]: native for native, ps in groups.items() if len(ps) == 1}
    taken = set(ids.values())
    clashing = sorted(p for ps in groups.values() if len(ps) > 1 for p in ps)
    for path in clashing:
        native = candidate = _native(path, root, suffix=True)
        n = 2
        while candidate in taken:
            candidate, n = f"{native}~{n}", n + 1
        taken.add(candidate)
        ids[path] = candidate
    return ids, clashing


def prepare_folder(
    corpus_dir: str | Path,
    out_dir: str | Path,
    csv_path: str | Path | None = None,
    name: str = "custom",
    style: str = "acted",
    language: str = "en",
    rating_range: tuple[float, float] | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
    encoding: str | None = None,
) -> PrepReport:
    """Prepare the files listed in ``csv_path`` (default ``corpus_dir/labels.csv``) as corpus ``name``.

    ``encoding`` names the CSV's encoding (default: UTF-8, or UTF-16 by its byte-order mark).
    Every row is either kept or counted under a skip reason; ``out_dir`` is checked writable
    before any audio is probed.
    """
    check_protocol(protocol, PROTOCOLS, name)
    if not _NAME.match(name) or name in BUILT_IN:
        raise SertoolError(f"corpus name {name!r} must be lower-case letters, digits, '.', '_' or '-', "
                           f"and not a built-in corpus ({', '.join(BUILT_IN)})")
    if style not in STYLES:
        raise SertoolError(f"style must be one of {', '.join(STYLES)}, got {style!r}")
    if not re.fullmatch(r"[a-z]{2}", language):
        raise SertoolError(f"language must be an ISO 639-1 code such as en or zh, got {language!r}")
    root = require_dir(Path(corpus_dir), LAYOUT)
    csv_file = Path(csv_path) if csv_path is not None else root / "labels.csv"
    rows, columns = _read_csv(csv_file, encoding)
    needs_speakers = protocol not in SPEAKERLESS_PROTOCOLS
    if "speaker" not in columns and needs_speakers:
        raise SertoolError(f"{csv_file.name} has no speaker column: speaker-independent folds need one "
                           "(add it, or choose --protocol stratified-kfold)")
    require_writable_dir(out_dir)  # fail in a second, not after probing every file
    log = PrepLog()
    ignored = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if ignored:
        log.warn(f"{csv_file.name}: column(s) not used: {', '.join(ignored)}")

    # rows by the file they name (a file may be listed under several spellings of its path)
    listed: dict[Path, list[tuple[int, dict[str, str]]]] = {}
    for lineno, row in rows:
        if not row["path"]:
            log.skip("row without a path", f"{csv_file.name}:{lineno}")
            continue
        audio = Path(row["path"])
        listed.setdefault((audio if audio.is_absolute() else root / audio).resolve(), []).append((lineno, row))
    ids, clashing = unique_ids(list(listed), root)
    for audio in clashing:
        log.note("audio files sharing a path without extension (kept; their ids keep the extension)",
                 ids[audio])

    found: list[tuple[Path, dict[str, str], int]] = []
    for audio, entries in listed.items():
        lineno, row = entries[0]
        where = f"{csv_file.name}:{lineno}"
        emotions = {_emotion_key(r["emotion"]): r["emotion"] for _, r in entries if r["emotion"]}
        if len(emotions) > 1:
            # which row is right cannot be told: keeping either would train on a label in doubt
            lines = ",".join(str(n) for n, _ in entries)
            log.skip("audio listed with conflicting emotions (left out)",
                     f"{csv_file.name}:{lines} ({' vs '.join(emotions.values())})", n=len(entries))
            continue
        for n, _ in entries[1:]:
            log.skip("audio listed twice", f"{csv_file.name}:{n}")
        if "speaker" in columns and not row["speaker"]:
            if needs_speakers:
                log.skip("row without a speaker (speaker-independent folds need one)", where)
                continue
            log.note(f"rows without a speaker (kept as speaker {UNKNOWN_SPEAKER!r})", where)
        found.append((audio, row, lineno))

    utts = []
    for (audio, row, lineno), info in zip(found, probe_audio([f[0] for f in found], jobs=jobs)):
        where = f"{csv_file.name}:{lineno}"
        if isinstance(info, str):
            log.skip(info, where)
            continue
        try:
            labels = _row_labels(row, language, rating_range)
        except _BadRow as e:
            log.skip(e.reason, f"{where} ({e.value!r})")
            continue
        speaker = row.get("speaker") or UNKNOWN_SPEAKER
        utts.append(
            Utterance(
                id=f"{name}/{ids[audio]}",
                corpus=name,
                audio=str(audio),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{name}/{speaker}",
                session=row.get("session") or None,
                style=style,
                text=row.get("text") or None,
                **labels,
            )
        )
    return finish(out_dir, name, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
