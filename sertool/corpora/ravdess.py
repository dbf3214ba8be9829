"""RAVDESS speech (``Audio_Speech_Actors_01-24``) → manifest, folds, token inventories.

Layout read: ``Actor_NN/MM-VV-EE-II-SS-RR-AA.wav`` (48 kHz), the seven two-digit fields being
modality (03 audio-only), vocal channel (01 speech, 02 song), emotion (01–08), intensity
(01 normal, 02 strong), statement (01/02), repetition and actor (odd = male). Intensity has two
levels, so strong/normal give MsUD intensities 3/2 (speecheq.txt §2.1); neutral is 0.

Example::

    report = prepare_ravdess("corpora/Audio_Speech_Actors_01-24", "data/ravdess")
    report.kept, len(report.speakers)   # (1440, 24)
"""

from __future__ import annotations

import re
from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, require_dir, visible
from sertool.data.labels import eis_from_level, unify
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "ravdess"
PROTOCOLS = ("speaker-kfold", "leave-one-speaker-out", "stratified-kfold")
DEFAULT_PROTOCOL = "speaker-kfold"
FINGERPRINT = ("Actor_*/*.wav",)
LAYOUT = "Audio_Speech_Actors_01-24 holding Actor_01..Actor_24"  # what CORPUS_DIR must be, for error messages

EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fear", "07": "disgust", "08": "surprise",
}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
AUDIO_ONLY = "03"
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_name(stem: str) -> dict[str, str]:
    """The fields of a RAVDESS file name; raises :class:`SertoolError` naming the bad field.

    Example:
        >>> parse_name("03-01-05-02-01-01-07")["emotion"], parse_name("03-01-05-02-01-01-07")["gender"]
        ('angry', 'M')
    """
    m = _NAME.match(stem)
    if not m:
        raise SertoolError("file name not in RAVDESS form (MM-VV-EE-II-SS-RR-AA)")
    modality, channel, emo, level, statement, _, actor = m.groups()
    if modality != AUDIO_ONLY or channel not in ("01", "02"):
        raise SertoolError("not an audio-only speech or song file")
    if emo not in EMOTIONS:
        raise SertoolError("unknown emotion label")
    if level not in INTENSITIES:
        raise SertoolError("unknown intensity level")
    if statement not in STATEMENTS:
        raise SertoolError("unknown statement code")
    return {
        "emotion_raw": emo,
        "emotion": EMOTIONS[emo],
        "intensity": INTENSITIES[level],
        "text": STATEMENTS[statement],
        "actor": actor,
        "gender": "M" if int(actor) % 2 else "F",
    }


def prepare_ravdess(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare every ``Actor_NN`` folder of ``corpus_dir``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    actors = [d for d in visible(root.glob("Actor_*")) if d.is_dir()]
    if not actors:
        raise SertoolError(f"no Actor_NN folders under {root}: is it Audio_Speech_Actors_01-24?")
    log = PrepLog()
    parsed: list[tuple[Path, dict[str, str]]] = []
    for actor in actors:
        for wav in visible(actor.glob("*.wav")):
            try:
                parsed.append((wav, parse_name(wav.stem)))
            except SertoolError as e:
                log.skip(str(e), f"{actor.name}/{wav.name}")

    utts = []
    for (wav, f), info in zip(parsed, probe_audio([w for w, _ in parsed], jobs=jobs)):
        if isinstance(info, str):
            log.skip(info, f"{wav.parent.name}/{wav.name}")
            continue
        esc, eis = unify(f["emotion"], eis_from_level(f["intensity"], levels=2))
        utts.append(
            Utterance(
                id=f"{CORPUS}/{wav.stem}",
                corpus=CORPUS,
                audio=str(wav),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/Actor_{f['actor']}",
                gender=f["gender"],
                language="en",
                session=None,
                style="acted",
                text=f["text"],
                emotion=f["emotion"],
                emotion_raw=f["emotion_raw"],
                intensity=f["intensity"],
                esc=esc,
                eis=eis,
            )
        )
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
