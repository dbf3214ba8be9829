"""CREMA-D (the root holding ``AudioWAV/``) → manifest, folds, token inventories.

Layout read: ``AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav`` (16 kHz) and
``VideoDemographics.csv`` (``ActorID, Age, Sex, ...``), the only source of gender: actor numbers
say nothing about it. Levels LO/MD/HI are three intensity levels (MsUD 1.5/2.5/3.5); XX is
unspecified (−1, the label-ignore value). A few files of the release hold no signal; each file is
read until a block rises above digital silence, so they are reported and skipped.

Example::

    report = prepare_crema_d("corpora/CREMA-D", "data/crema-d")
    report.skipped   # {'no signal': 1}
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, read_table_text, require_dir, visible
from sertool.data.labels import canonical_emotion, eis_from_level, unify
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "crema-d"
PROTOCOLS = ("speaker-kfold", "leave-one-speaker-out", "stratified-kfold")
DEFAULT_PROTOCOL = "speaker-kfold"
FINGERPRINT = ("AudioWAV/*.wav", "VideoDemographics.csv")
LAYOUT = "the CREMA-D root holding AudioWAV/"  # what CORPUS_DIR must be, for error messages
DEMOGRAPHICS = "VideoDemographics.csv"

SENTENCES = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
EMOTION_CODES = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": None}
_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
ACTORS = range(1001, 1092)  # the 91 actors of the release


def is_release_name(stem: str) -> bool:
    """Whether ``stem`` is a file name of the release (``1001_DFA_ANG_XX``): a known actor, sentence,
    emotion and level, nothing else. Names a server lists are checked with it before becoming paths.

    Example:
        >>> is_release_name("1001_DFA_ANG_XX"), is_release_name("../../1001_DFA_ANG_XX")
        (True, False)
    """
    m = _NAME.fullmatch(stem) if stem.isascii() else None  # ASCII: \d also matches other scripts' digits
    return (m is not None and int(m.group(1)) in ACTORS and m.group(2) in SENTENCES
            and m.group(3) in EMOTION_CODES and m.group(4) in LEVELS)


def read_demographics(path: Path) -> dict[str, str]:
    """Actor id → ``F``/``M`` from ``VideoDemographics.csv``.

    Example::

        read_demographics(Path("CREMA-D/VideoDemographics.csv"))["1001"]   # 'M'
    """
    # the release's file is ASCII: a byte that is not UTF-8 means another file, not a guessable encoding
    text = read_table_text(path, hint="the release's VideoDemographics.csv is UTF-8 (ASCII); re-save it as UTF-8")
    rows = csv.DictReader(io.StringIO(text, newline=""))
    genders = {}
    try:
        fields = {name.strip().lower(): name for name in rows.fieldnames or ()}
        if "actorid" not in fields or "sex" not in fields:
            raise SertoolError(f"{path}: expected columns ActorID and Sex, found {', '.join(fields.values())}")
        for row in rows:
            sex = (row[fields["sex"]] or "").strip().lower()
            actor = (row[fields["actorid"]] or "").strip()
            if actor and sex in ("male", "female", "m", "f"):
                genders[actor] = "M" if sex.startswith("m") else "F"
    except csv.Error as e:
        raise SertoolError(f"{path.name} line {rows.line_num}: not a CSV row ({e})") from None
    return genders


def prepare_crema_d(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare ``AudioWAV/`` of a CREMA-D root, gender from its ``VideoDemographics.csv``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    audio_dir = root / "AudioWAV"
    if not audio_dir.is_dir():
        raise SertoolError(f"no AudioWAV folder under {root}: is it the CREMA-D root?")
    log = PrepLog()
    genders: dict[str, str] = {}
    if (root / DEMOGRAPHICS).is_file():
        genders = read_demographics(root / DEMOGRAPHICS)
    else:
        log.warn(f"{DEMOGRAPHICS} not found in {root}: gender is null for every utterance")

    parsed: list[tuple[Path, tuple[str, str, str, str]]] = []
    for wav in visible(audio_dir.glob("*.wav")):
        m = _NAME.match(wav.stem)
        if not m:
            log.skip("file name not in CREMA-D form (actor_sentence_emotion_level)", wav.name)
        elif m.group(2) not in SENTENCES:
            log.skip("unknown sentence code", wav.name)
        elif m.group(3) not in EMOTION_CODES:
            log.skip("unknown emotion label", wav.name)
        elif m.group(4) not in LEVELS:
            log.skip("unknown intensity level", wav.name)
        else:
            parsed.append((wav, m.groups()))

    infos = probe_audio([w for w, _ in parsed], jobs=jobs, check_signal=True)
    utts = []
    for (wav, (actor, sentence, code, level)), info in zip(parsed, infos):
        if isinstance(info, str):
            log.skip(info, f"AudioWAV/{wav.name}")
            continue
        gender = genders.get(actor)
        if gender is None and genders:
            log.note(f"utterances of actors missing from {DEMOGRAPHICS} (gender null)", wav.name)
        emotion = canonical_emotion(code)
        intensity = LEVELS[level]
        esc, eis = unify(emotion, eis_from_level(intensity, levels=3))
        utts.append(
            Utterance(
                id=f"{CORPUS}/{wav.stem}",
                corpus=CORPUS,
                audio=str(wav),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/{actor}",
                gender=gender,
                language="en",
                session=None,
                style="acted",
                text=SENTENCES[sentence],
                emotion=emotion,
                emotion_raw=code,
                intensity=intensity,
                esc=esc,
                eis=eis,
            )
        )
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
