"""Stand-in RAVDESS speech (``Audio_Speech_Actors_01-24``): English, 48 kHz, 16-bit.

Layout written (that of the release's speech archive): ``Actor_NN/03-01-EE-II-SS-RR-NN.wav``,
the fields being modality (03 audio-only), vocal channel (01 speech), emotion (01 neutral,
02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01
normal, 02 strong; neutral has only normal), statement (01 "Kids are talking by the door",
02 "Dogs are sitting by the door"), repetition and actor (odd = male). Each actor says every
emotion ``per_speaker`` times (8 files at 1, at most 4; the release has 60: each emotion at both
intensities, both statements twice), statement and repetition cycling and the intensity
alternating over takes, actors and emotions. Normal intensity is rendered at medium, strong at
high; calm, fearful, disgust and surprised as the nearest rendering.

Example::

    generate_standin("ravdess", Path("stand_in/Audio_Speech_Actors_01-24"), speakers=24)   # 192 files
"""

from __future__ import annotations

from sertool.corpora.ravdess import EMOTIONS, STATEMENTS
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer, rendering

SAMPLE_RATE = 48000
LEVELS = {"01": "medium", "02": "high"}  # RAVDESS normal / strong → the synthesiser's levels


def write_ravdess(build: Build) -> None:
    """Write ``Actor_01`` … ``Actor_<speakers>`` (see the module docstring)."""
    takes = []
    for a in range(1, build.speakers + 1):
        actor = f"{a:02d}"
        voice = build.voice(f"Actor_{actor}", "M" if a % 2 else "F", "en")
        for code, emotion in EMOTIONS.items():
            for k in range(build.per_speaker):
                # statement × repetition is unique per take; the intensity alternates over takes,
                # actors and emotions (neutral has only normal, as in the release)
                statement, repetition = f"{k % 2 + 1:02d}", f"{k // 2 + 1:02d}"
                intensity = "01" if emotion == "neutral" else f"{(k + a + int(code)) % 2 + 1:02d}"
                name = f"03-01-{code}-{intensity}-{statement}-{repetition}-{actor}"
                _, level = rendering(emotion, LEVELS[intensity])
                takes.append(Take(f"Actor_{actor}/{name}.wav", voice, STATEMENTS[statement], emotion, level,
                                  sample_rate=SAMPLE_RATE))
    build.render(takes)


WRITERS.add("ravdess", Writer(write_ravdess, per_speaker=1, speakers=24, speaker_range=(2, 24)))
