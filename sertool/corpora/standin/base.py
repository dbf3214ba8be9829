"""What every stand-in corpus writer shares: its voices, its takes, rendering them, writing text files.

A writer (one per corpus layout, registered in :data:`WRITERS`) describes each audio file of the
miniature corpus as a :class:`Take`: where it goes, who says what, with which emotion and
intensity, at which sample rate and in which container. :meth:`Build.render` synthesises every
take with :mod:`sertool.corpora.synthetic` (eSpeak NG + WORLD prosody, the same renderer as
``sertool prep synthetic``) and returns their durations, which the writer then needs for the
label files that carry times (IEMOCAP's ``[start - end]``).

The synthesiser speaks four emotions (neutral, happy, angry, sad). A corpus label outside them
is rendered as the nearest of the four (:data:`NEAREST`) while the files keep the corpus's own
label code, so that what ``sertool prep`` filters (IEMOCAP ``fru``/``xxx``, ESD ``Surprise``,
RAVDESS ``calm``) is exercised; the audio is then no evidence for that label.

Example:
    >>> rendering("frustrated", None), rendering("sad", "high"), rendering(None, None)
    (('angry', 'low'), ('sad', 'high'), ('neutral', None))
"""

from __future__ import annotations

import os
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sertool.corpora.synthetic import LEVELS, SAMPLE_RATE, Plan, Speaker, make_speakers, plan_corpus
from sertool.errors import SertoolError
from sertool.registry import Registry

# Canonical emotion → (the synthesiser's emotion, its intensity when the corpus names none).
# Arousal decides where the four renderings cannot: excited and surprise are lively (happy, high),
# frustrated and disgust tense (angry, low), fear rendered as sad at high intensity (Scherer 2003:
# both have a raised, unsteady pitch), calm and other as neutral.
NEAREST: dict[str | None, tuple[str, str | None]] = {
    None: ("neutral", None),
    "neutral": ("neutral", None),
    "calm": ("neutral", None),
    "other": ("neutral", None),
    "happy": ("happy", "medium"),
    "excited": ("happy", "high"),
    "surprise": ("happy", "high"),
    "angry": ("angry", "medium"),
    "frustrated": ("angry", "low"),
    "disgust": ("angry", "low"),
    "sad": ("sad", "medium"),
    "fear": ("sad", "high"),
}
# eSpeak NG variants by gender (synthetic.VARIANTS holds both, interleaved).
MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")


def rendering(emotion: str | None, level: str | None) -> tuple[str, str | None]:
    """(synthesiser emotion, intensity level) for a canonical ``emotion`` and the corpus's ``level``.

    Neutral speech has no level; an emotional one without a level takes :data:`NEAREST`'s.
    """
    if emotion not in NEAREST:
        raise ValueError(f"no rendering for emotion {emotion!r}")
    synth, default = NEAREST[emotion]
    if synth == "neutral":
        return synth, None
    return synth, level if level is not None else default


@dataclass(frozen=True)
class Take:
    """One audio file of a stand-in corpus.

    path: relative to the corpus root; its suffix (``.wav``, ``.flac``) is the container.
    emotion: canonical emotion (None: unlabelled or no agreement), rendered as :func:`rendering` says.
    level: ``low``/``medium``/``high`` (None: the default of :data:`NEAREST`).
    silent: digital silence instead of speech (CREMA-D's release has such a file).
    """

    path: str
    voice: Speaker
    text: str
    emotion: str | None = None
    level: str | None = None
    sample_rate: int = SAMPLE_RATE
    silent: bool = False


@dataclass(frozen=True)
class Writer:
    """A registered stand-in layout: the function writing it and its size defaults.

    ``speakers`` is the default number of speakers where the layout lets it vary (None: fixed by
    the corpus, e.g. IEMOCAP's 5 sessions × 2 actors), within ``speaker_range``.
    """

    write: Callable[[Build], None]
    per_speaker: int
    speakers: int | None = None
    speaker_range: tuple[int, int] | None = None
    likes: tuple[str, ...] = ()  # variants of a generic layout (folder: seqd, calls)


WRITERS: Registry[Writer] = Registry("stand-in corpus")


def seed_of(*parts: object) -> int:
    """A non-negative seed from ``parts`` (stable across runs and platforms, unlike ``hash``).

    Example:
        >>> seed_of(0, "iemocap", "Ses01F") == seed_of(0, "iemocap", "Ses01F") != seed_of(1, "iemocap", "Ses01F")
        True
    """
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode("utf-8"))


@dataclass
class Build:
    """One stand-in corpus being written under ``root`` (a temporary directory until complete)."""

    corpus: str
    root: Path
    seed: int
    jobs: int
    per_speaker: int
    speakers: int | None = None
    like: str | None = None
    files: int = 0
    _voices: dict[str, Speaker] = field(default_factory=dict)

    def rng(self, *parts: object) -> np.random.Generator:
        """A generator seeded by the corpus, the build's seed and ``parts`` (never by call order)."""
        return np.random.default_rng([self.seed, seed_of(self.corpus, *parts)])

    def voice(self, key: str, gender: str, language: str) -> Speaker:
        """The synthetic speaker ``key`` of this corpus: an eSpeak NG variant of ``gender`` speaking
        ``language``, with its own prosodic offsets and vocal-tract warp (drawn as
        :func:`~sertool.corpora.synthetic.make_speakers` draws them, from the speaker's own seed)."""
        if key not in self._voices:
            base = make_speakers(1, (language,), seed=seed_of(self.seed, self.corpus, key))[0]
            pool = MALE_VARIANTS if gender == "M" else FEMALE_VARIANTS
            variant = pool[seed_of(self.corpus, key) % len(pool)]
            # index: the speaker's number in plan_corpus's seeds, unique within the corpus
            self._voices[key] = replace(base, index=seed_of(self.corpus, key), variant=variant)
        return self._voices[key]

    def render(self, takes: Sequence[Take]) -> dict[str, float]:
        """Synthesise every take into its file; returns seconds per take path."""
        return render_takes(self.root, takes, self.seed, self.jobs, self.corpus)

    def write_text(self, path: str, text: str, encoding: str = "utf-8") -> Path:
        """Write a text file of the corpus (``path`` relative to the root) in ``encoding``."""
        return self.write_bytes(path, text.encode(encoding))

    def write_bytes(self, path: str, data: bytes) -> Path:
        """Write a file of the corpus as given bytes (a transcript in a mixture of encodings)."""
        out = self.root / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        self.files += 1
        return out


def _plans(takes: Sequence[Take], root: Path, seed: int, corpus: str) -> list[tuple[Take, Plan]]:
    """A rendering plan per take, taken from :func:`~sertool.corpora.synthetic.plan_corpus`.

    ``plan_corpus`` gives a speaker ``per_class`` plans per emotion, intensity levels cycling
    low/medium/high (neutral: none); the j-th take of a speaker with one (emotion, level) gets the
    j-th plan of that level, so takes differ as the synthetic corpus's utterances do (per-utterance
    prosody jitter), and each keeps its own text and file.
    """
    by_voice: dict[Speaker, list[tuple[int, Take]]] = defaultdict(list)
    for i, take in enumerate(takes):
        by_voice[take.voice].append((i, take))
    out: list[tuple[Take, Plan] | None] = [None] * len(takes)
    for group in by_voice.values():
        voice = group[0][1].voice
        wanted = [rendering(t.emotion, t.level) for _, t in group]
        counts: dict[tuple[str, str | None], int] = defaultdict(int)
        for key in wanted:
            counts[key] += 1
        per_class = len(LEVELS) * max(counts.values())
        plans = plan_corpus(root, [voice], per_class, ("studio",), seed_of(seed, corpus, voice.index))
        by_emotion: dict[str, list[Plan]] = defaultdict(list)
        for plan, utt in plans:
            by_emotion[utt.emotion].append(plan)
        used: dict[tuple[str, str | None], int] = defaultdict(int)
        for (i, take), (emotion, level) in zip(group, wanted):
            j = used[(emotion, level)]
            used[(emotion, level)] += 1
            k = j if level is None else len(LEVELS) * j + LEVELS.index(level)
            plan = by_emotion[emotion][k]
            out[i] = (take, replace(plan, name=take.path, path=str(_render_path(root, take)), text=take.text))
    return [x for x in out if x is not None]


def _render_path(root: Path, take: Take) -> Path:
    """Where the synthesiser writes a take: its own file when that is 16 kHz WAV, else a staging WAV."""
    final = root / take.path
    if take.sample_rate == SAMPLE_RATE and final.suffix.lower() == ".wav":
        return final
    return final.with_name(f".{final.name}.render.wav")


def render_takes(root: Path, takes: Sequence[Take], seed: int, jobs: int, corpus: str) -> dict[str, float]:
    """Write every take under ``root``; returns seconds per take path (see :meth:`Build.render`).

    Rendering runs in ``jobs`` processes through the synthetic corpus's own runner; takes at
    another rate or in another container (RAVDESS 48 kHz, LibriSpeech FLAC) are then converted.
    """
    import soundfile as sf

    from sertool.audio import resample
    from sertool.corpora.synthetic import _run  # the synthetic corpus's renderer pool, reused as is

    paths = [t.path for t in takes]
    if len(set(paths)) != len(paths):
        raise ValueError(f"{corpus}: two takes share a path")
    spoken = [t for t in takes if not t.silent]
    plans = _plans(spoken, root, seed, corpus)
    samples = _run([p for _, p in plans], max(1, min(jobs, len(plans)))) if plans else {}
    seconds: dict[str, float] = {}
    for take, plan in plans:
        final = root / take.path
        if Path(plan.path) != final:
            wave, _ = sf.read(plan.path, dtype="float32")
            wave = resample(wave, SAMPLE_RATE, take.sample_rate)
            sf.write(str(final), wave, take.sample_rate, subtype="PCM_16")
            os.unlink(plan.path)
        seconds[take.path] = samples[plan.name] / SAMPLE_RATE
    for take in takes:
        if take.silent:
            final = root / take.path
            final.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(final), np.zeros(take.sample_rate, dtype=np.float32), take.sample_rate, subtype="PCM_16")
            seconds[take.path] = 1.0
    return seconds


def check_size(name: str, writer: Writer, per_speaker: int | None, speakers: int | None,
               like: str | None) -> tuple[int, int | None, str | None]:
    """The (per_speaker, speakers, like) a build uses: the writer's defaults where None, checked."""
    per = writer.per_speaker if per_speaker is None else per_speaker
    if per < 1:
        raise SertoolError(f"stand-in {name}: --per-speaker must be at least 1, got {per}")
    if speakers is not None and writer.speaker_range is None:
        raise SertoolError(f"stand-in {name}: the number of speakers is fixed by the corpus's layout "
                           "(--speakers does not apply)")
    n = writer.speakers if speakers is None else speakers
    if writer.speaker_range is not None and n is not None:
        lo, hi = writer.speaker_range
        if not lo <= n <= hi:
            raise SertoolError(f"stand-in {name}: --speakers must be {lo}–{hi}, got {n}")
    if like is not None and like not in writer.likes:
        known = ", ".join(writer.likes) or "none"
        raise SertoolError(f"stand-in {name}: unknown --like {like!r} (known: {known})")
    return per, n, like if like is not None else (writer.likes[0] if writer.likes else None)


def cycle(items: Sequence[Any], start: int, n: int) -> list[Any]:
    """``n`` items of ``items`` from ``start``, wrapping around.

    Example:
        >>> cycle("abc", 2, 4)
        ['c', 'a', 'b', 'c']
    """
    return [items[(start + i) % len(items)] for i in range(n)]
