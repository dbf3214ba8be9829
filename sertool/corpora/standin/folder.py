"""Stand-in corpora of one's own, read by ``sertool prep folder``: audio files and ``labels.csv``.

Two variants (``like``), the two private corpora the papers use:

``seqd`` (default) — SpeechEQ's SEQD (speecheq.txt §2.2): Mandarin, 16 kHz, speakers of both
genders (``speakers``, default 6; SEQD has 20), each saying every SEQM emotion (trust, joy,
anticipation, anger, disgust, sadness, surprise, fear) at three levels plus neutral,
``per_speaker`` times each. SEQD's fixed test set is the CSV's ``split`` column (about one
utterance in ten ``test``, the rest ``train``)::

    <speaker>/<emotion>_<level>_<nn>.wav     spk01/anger_high_01.wav
    labels.csv   path,emotion,intensity,speaker,gender,text,language,split

``calls`` — selective MTL's call-centre corpus (selective_mtl.txt §3.2): spontaneous telephone
speech (the synthesiser's telephone channel: 8 kHz band, µ-law, line noise, back at 16 kHz),
five emotions (angry, happy, disgust, sad, neutral; neutral the most frequent) and no speaker
labels, so the CSV has no speaker column and prep needs ``--protocol stratified-kfold`` as the
paper's random five folds. The real corpus is Japanese; the synthesiser speaks English and
Mandarin, so the stand-in's callers speak English. ``speakers`` (default 8) callers, one call
folder each::

    call<nnn>/call<nnn>_<nn>.wav
    labels.csv   path,emotion,text,language

Prepare them as the recipes do::

    sertool prep folder stand_in/seqd data/seqd --name seqd --style acted
    sertool prep folder stand_in/calls data/calls --name calls --style spontaneous --protocol stratified-kfold
"""

from __future__ import annotations

import csv
import io

from sertool.corpora.sentences import SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer

# SEQM categories of SEQD's table 1 → the canonical emotion rendered (trust and anticipation have
# no canonical counterpart; both are positive and calm-to-moderate, so rendered as happy).
SEQD_EMOTIONS = {
    "trust": "happy", "joy": "happy", "anticipation": "happy", "anger": "angry",
    "disgust": "disgust", "sadness": "sad", "surprise": "surprise", "fear": "fear",
}
SEQD_LEVELS = ("low", "medium", "high")
# The call-centre corpus's five emotions and their weights (neutral dominates real calls).
CALL_EMOTIONS = {"neutral": 3, "angry": 1, "happy": 1, "disgust": 1, "sad": 1}


def _csv(rows: list[dict[str, str]]) -> str:
    """Rows as CSV text with a header (quoting what needs it)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _write_seqd(build: Build) -> None:
    sentences = SENTENCES["zh"]
    takes, rows = [], []
    rng = build.rng("split")
    for s in range(1, build.speakers + 1):
        speaker = f"spk{s:02d}"
        gender = "F" if s % 2 else "M"
        voice = build.voice(speaker, gender, "zh")
        classes = [("neutral", "")] + [(e, lv) for e in SEQD_EMOTIONS for lv in SEQD_LEVELS]
        for c, (label, level) in enumerate(classes):
            for k in range(build.per_speaker):
                name = f"{label}_{level}_{k + 1:02d}" if level else f"{label}_{k + 1:02d}"
                path = f"{speaker}/{name}.wav"
                text = sentences[(s * 7 + c * build.per_speaker + k) % len(sentences)]
                emotion = SEQD_EMOTIONS.get(label, label)
                takes.append(Take(path, voice, text, emotion, level or None))
                rows.append({"path": path, "emotion": label, "intensity": level, "speaker": speaker,
                             "gender": gender, "text": text, "language": "zh",
                             "split": "test" if rng.random() < 0.1 else "train"})
    build.write_text("labels.csv", _csv(rows))
    build.render(takes)


def _write_calls(build: Build) -> None:
    sentences = SENTENCES["en"]
    takes, rows = [], []
    for c in range(1, build.speakers + 1):
        call = f"call{c:03d}"
        voice = build.voice(call, "F" if c % 2 else "M", "en")
        n = 0
        for emotion, weight in CALL_EMOTIONS.items():
            for _ in range(weight * build.per_speaker):
                n += 1
                path = f"{call}/{call}_{n:02d}.wav"
                text = sentences[(c * 5 + n) % len(sentences)]
                takes.append(Take(path, voice, text, emotion, channel="telephone"))
                rows.append({"path": path, "emotion": emotion, "text": text, "language": "en"})
    build.write_text("labels.csv", _csv(rows))
    build.render(takes)


def write_folder(build: Build) -> None:
    """Write the ``like`` variant (see the module docstring)."""
    (_write_calls if build.like == "calls" else _write_seqd)(build)


WRITERS.add("folder", Writer(write_folder, per_speaker=1, speakers=6, speaker_range=(2, 40), max_per_speaker=50,
                             likes=("seqd", "calls")))
