"""Emotion labels: canonical categories, SpeechEQ's SEQM/MsUD unification, label sets.

Every corpus maps its own codes onto the canonical categories below; SpeechEQ's unified
metric (speecheq.txt §2.1) then gives each utterance an emotion category (``esc``, SEQM)
and an intensity score (``eis``, MsUD) in [0, 4]. Label sets used for training are defined
here, once, and chosen by name in the experiment configuration.

Example:
    >>> canonical_to_esc("excited")
    'joy'
    >>> eis_from_level("high", levels=3), eis_from_level("strong", levels=2)
    (3.5, 3.0)
    >>> get_label_set("iemocap4").label_of("excited")
    'happy'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sertool.errors import SertoolError

CANONICAL_EMOTIONS = (
    "neutral", "happy", "excited", "angry", "sad", "fear",
    "disgust", "surprise", "calm", "frustrated", "other",
)
SEQM_CATEGORIES = (
    "neutral", "joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation",
)
INTENSITY_LEVELS = ("low", "medium", "high", "normal", "strong")
IGNORE_EIS = -1.0  # the label-ignore value of the intensity task

CANONICAL_TO_SEQM = {
    "neutral": "neutral",
    "happy": "joy",
    "excited": "joy",
    "angry": "anger",
    "sad": "sadness",
    "fear": "fear",
    "disgust": "disgust",
    "surprise": "surprise",
}

# Discrete intensity levels → MsUD scores (speecheq.txt §2.1): the range (1, 4] is cut into
# equal bins and each level takes its bin's centre.
_LEVEL_EIS = {
    3: {"low": 1.5, "medium": 2.5, "high": 3.5},
    2: {"normal": 2.0, "strong": 3.0},
}


def canonical_to_esc(emotion: str | None) -> str | None:
    """SEQM category of a canonical emotion (None for calm, frustrated, other, unknown)."""
    return CANONICAL_TO_SEQM.get(emotion) if emotion else None


def eis_from_level(level: str | None, levels: int) -> float | None:
    """MsUD score of a discrete intensity ``level`` on a ``levels``-level scale (None if unknown)."""
    if level is None:
        return None
    try:
        return _LEVEL_EIS[levels][level]
    except KeyError:
        raise SertoolError(f"unknown intensity {level!r} for a {levels}-level scale") from None


def eis_from_rating(value: float, low: float, high: float) -> float:
    """Rescale a continuous rating in [low, high] linearly onto [1, 4] (e.g. dominance 1–5)."""
    value = min(max(value, low), high)
    return 1.0 + 3.0 * (value - low) / (high - low)


def unify(
    emotion: str | None, intensity_eis: float | None, esc: str | None = None
) -> tuple[str | None, float]:
    """(esc, eis) for an utterance: neutral has intensity 0; no SEQM category → ignored (-1).

    ``esc`` overrides the category mapped from ``emotion``, for labels that name a SEQM category
    with no canonical counterpart (SEQD's ``trust``, ``anticipation``; see :func:`esc_of_label`).
    """
    esc = esc if esc is not None else canonical_to_esc(emotion)
    if esc is None:
        return None, IGNORE_EIS
    if esc == "neutral":
        return esc, 0.0
    return esc, IGNORE_EIS if intensity_eis is None else float(intensity_eis)


# Spellings of emotion labels found in corpora and hand-made CSVs, lower-cased → canonical
# category. One table, so every corpus reads "ANG", "Angry", "anger" and "生气" the same way.
EMOTION_ALIASES: dict[str, str] = {
    **{e: e for e in CANONICAL_EMOTIONS},
    # IEMOCAP / CREMA-D three-letter codes
    "neu": "neutral", "hap": "happy", "exc": "excited", "ang": "angry", "sad": "sad",
    "fea": "fear", "dis": "disgust", "sur": "surprise", "fru": "frustrated", "oth": "other",
    # noun and adjective forms (RAVDESS, ESD, SEQM names)
    "happiness": "happy", "joy": "happy", "anger": "angry", "sadness": "sad", "fearful": "fear",
    "afraid": "fear", "disgusted": "disgust", "surprised": "surprise", "frustration": "frustrated",
    "excitement": "excited",
    # SEQM categories without a canonical counterpart (SEQD): kept as "other", esc names them
    "trust": "other", "anticipation": "other",
    # Mandarin (CASIA folder names, ESD transcripts)
    "中立": "neutral", "中性": "neutral", "平静": "neutral",
    "快乐": "happy", "高兴": "happy", "开心": "happy",
    "生气": "angry", "愤怒": "angry",
    "伤心": "sad", "悲伤": "sad", "难过": "sad",
    "害怕": "fear", "恐惧": "fear",
    "厌恶": "disgust",
    "惊讶": "surprise", "惊喜": "surprise", "吃惊": "surprise",
}


def canonical_emotion(label: str) -> str:
    """Canonical category of an emotion label in any spelling of :data:`EMOTION_ALIASES`.

    Example:
        >>> canonical_emotion("ANG"), canonical_emotion("Surprised"), canonical_emotion("生气")
        ('angry', 'surprise', 'angry')
    """
    try:
        return EMOTION_ALIASES[label.strip().lower()]
    except KeyError:
        raise SertoolError(f"unknown emotion label {label!r}") from None


def esc_of_label(label: str) -> str | None:
    """SEQM category of a label: the label itself where it names one (``trust``), else mapped.

    Example:
        >>> esc_of_label("trust"), esc_of_label("exc"), esc_of_label("calm")
        ('trust', 'joy', None)
    """
    key = label.strip().lower()
    return key if key in SEQM_CATEGORIES else canonical_to_esc(canonical_emotion(label))


@dataclass(frozen=True)
class LabelSet:
    """Classes a classifier is trained on, and how manifest labels map onto them.

    ``field`` is the manifest field read (``emotion`` or ``esc``); ``merge`` maps a value onto a
    class (e.g. excited → happy). Values outside the set are not trained on (``label_of`` → None).
    """

    name: str
    labels: tuple[str, ...]
    field: str = "emotion"
    # dataclasses.field, not ``field``: the attribute above shadows that name in the class body.
    merge: dict[str, str] = dataclasses.field(default_factory=dict)

    def label_of(self, value: str | None) -> str | None:
        value = self.merge.get(value, value) if value is not None else None
        return value if value in self.labels else None

    def index_of(self, value: str | None) -> int | None:
        label = self.label_of(value)
        return None if label is None else self.labels.index(label)


LABEL_SETS: dict[str, LabelSet] = {
    s.name: s
    for s in (
        LabelSet("iemocap4", ("neutral", "happy", "angry", "sad"), merge={"excited": "happy"}),
        LabelSet("emo4", ("neutral", "happy", "angry", "sad")),
        LabelSet("seqm9", SEQM_CATEGORIES, field="esc"),
        LabelSet("ravdess8", ("neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise")),
        LabelSet("crema6", ("neutral", "happy", "sad", "angry", "fear", "disgust")),
        LabelSet("casia6", ("neutral", "happy", "sad", "angry", "fear", "surprise")),
        LabelSet("esd5", ("neutral", "happy", "angry", "sad", "surprise")),
    )
}

GENDER_LABELS = ("F", "M")


def get_label_set(name: str) -> LabelSet:
    """The label set called ``name``; unknown names raise with the known ones listed."""
    try:
        return LABEL_SETS[name]
    except KeyError:
        raise SertoolError(f"unknown label set {name!r} (known: {', '.join(LABEL_SETS)})") from None
