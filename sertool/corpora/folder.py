"""A corpus of one's own (SEQD-like acted speech, call-centre recordings) → manifest, folds,
token inventories, from a directory of audio and a CSV describing it.

CSV columns (header row, any order, case-insensitive): ``path`` (relative to the corpus
directory, or absolute) and ``emotion`` are required; ``intensity``, ``speaker``, ``gender``,
``text``, ``language``, ``session`` and ``split`` are optional. Emotions may be any spelling of
:data:`~sertool.data.labels.EMOTION_ALIASES` or a SEQM category (``trust`` and ``anticipation``
keep their SEQM category; their canonical emotion is ``other``); an empty emotion cell leaves the
utterance unlabelled. Intensities are ``low/medium/high`` (MsUD 1.5/2.5/3.5), ``normal/strong``
(2/3), or numbers rescaled onto [1, 4] from ``rating_range``.

Example (``labels.csv``)::

    path,emotion,intensity,speaker,gender,text,language
    spk01/angry_001.wav,anger,high,spk01,F,我真的受够了,zh
    spk01/trust_004.wav,trust,low,spk01,F,交给你我放心,zh

    >>> report = prepare_folder("corpora/seqd", "data/seqd", csv_path="corpora/seqd/labels.csv",
    ...                         name="seqd", style="acted")
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from sertool.corpora.common import PrepReport
from sertool.corpora.registry import BUILT_IN as REGISTERED
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, read_lines, require_dir
from sertool.data.folds import PROTOCOLS as ALL_PROTOCOLS
from sertool.data.labels import canonical_emotion, eis_from_level, eis_from_rating, esc_of_label, unify
from sertool.data.manifest import SPLITS, STYLES, Utterance
from sertool.errors import SertoolError

PROTOCOLS = tuple(p for p in ALL_PROTOCOLS if p != "casia-10fold")
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
    return dict(emotion=emotion, emotion_raw=raw, intensity=level, esc=esc, eis=eis, gender=gender, language=lang,
                split=split)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _read_csv(path: Path) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Rows (keyed by lower-cased column) and the column names present."""
    if not path.is_file():
        raise SertoolError(f"label CSV not found: {path}")
    reader = csv.DictReader(io.StringIO("\n".join(read_lines(path))))
    columns = {(c or "").strip().lower(): c for c in reader.fieldnames or ()}
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise SertoolError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'})")
    rows = [{key: (row.get(col) or "").strip() for key, col in columns.items()} for row in reader]
    return rows, columns


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
    jobs: int = 1,
) -> PrepReport:
    """Prepare the files listed in ``csv_path`` (default ``corpus_dir/labels.csv``) as corpus ``name``."""
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
    rows, columns = _read_csv(csv_file)
    if "speaker" not in columns and protocol not in ("stratified-kfold", "corpus-split"):
        raise SertoolError(f"{csv_file.name} has no speaker column: speaker-independent folds need one "
                           "(add it, or choose --protocol stratified-kfold)")
    log = PrepLog()
    ignored = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if ignored:
        log.warn(f"{csv_file.name}: column(s) not used: {', '.join(ignored)}")
    found: list[tuple[Path, dict[str, str], int]] = []
    seen: set[Path] = set()
    for lineno, row in enumerate(rows, 2):  # line 1 is the header
        where = f"{csv_file.name}:{lineno}"
        if not row["path"]:
            log.skip("row without a path", where)
            continue
        audio = Path(row["path"])
        audio = (audio if audio.is_absolute() else root / audio).resolve()
        if audio in seen:
            log.skip("audio listed twice", where)
            continue
        seen.add(audio)
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
        try:
            native = audio.relative_to(root).with_suffix("").as_posix()
        except ValueError:  # absolute path outside the corpus directory
            native = audio.with_suffix("").name
        speaker = row.get("speaker") or UNKNOWN_SPEAKER
        utts.append(
            Utterance(
                id=f"{name}/{native}",
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
    return finish(out_dir, name, utts, log, protocol, k=k, seed=seed, repeats=repeats)
