"""Stand-in CREMA-D (the root holding ``AudioWAV/``): English, 16 kHz.

Layout written (that of the release)::

    AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav      1001_DFA_ANG_XX.wav
    VideoDemographics.csv                                  ActorID,Age,Sex,Race,Ethnicity

Actors are numbered from 1001 and alternate Female/Male in ``VideoDemographics.csv`` (the only
source of gender: actor numbers say nothing about it). As in the release, only the sentence
``IEO`` ("It's eleven o'clock") is spoken at the levels LO, MD and HI; every other file's level is
XX (unspecified), as is IEO in neutral. Each actor says each of the six emotions ``per_speaker``
times: the first non-neutral one is IEO at a level cycling over actors and emotions, the others
cycle through the remaining eleven sentences. Disgust and fear are rendered as the nearest of the
synthesiser's emotions. Like the release (where a few files hold no signal), the last actor's
last file is digital silence, so ``sertool prep crema-d`` reports one ``no signal`` skip.

Example::

    generate_standin("crema-d", Path("stand_in/CREMA-D"))   # 10 actors × 6 emotions
"""

from __future__ import annotations

from sertool.corpora.crema_d import DEMOGRAPHICS, EMOTION_CODES, SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer, rendering
from sertool.data.labels import canonical_emotion

FIRST_ACTOR = 1001
LEVELS = {"LO": "low", "MD": "medium", "HI": "high"}
OTHER_SENTENCES = tuple(s for s in SENTENCES if s != "IEO")


def write_crema_d(build: Build) -> None:
    """Write ``AudioWAV/`` and ``VideoDemographics.csv`` (see the module docstring)."""
    takes = []
    rows = ["ActorID,Age,Sex,Race,Ethnicity"]
    rng = build.rng("demographics")
    for a in range(build.speakers):
        actor = str(FIRST_ACTOR + a)
        gender = "F" if a % 2 else "M"
        rows.append(f"{actor},{int(rng.integers(20, 75))},{'Female' if gender == 'F' else 'Male'},"
                    f"{rng.choice(['Caucasian', 'African American', 'Asian'])},Not Hispanic")
        voice = build.voice(actor, gender, "en")
        for e, code in enumerate(EMOTION_CODES):
            emotion = canonical_emotion(code)
            for k in range(build.per_speaker):
                if k == 0 and code != "NEU":
                    sentence, level = "IEO", tuple(LEVELS)[(a + e) % len(LEVELS)]
                else:
                    sentence, level = OTHER_SENTENCES[(a + e + k) % len(OTHER_SENTENCES)], "XX"
                _, render_level = rendering(emotion, LEVELS.get(level))
                takes.append(Take(f"AudioWAV/{actor}_{sentence}_{code}_{level}.wav", voice, SENTENCES[sentence],
                                  emotion, render_level))
    takes[-1] = Take(takes[-1].path, takes[-1].voice, takes[-1].text, takes[-1].emotion, silent=True)
    build.write_text(DEMOGRAPHICS, "\n".join(rows) + "\n")
    build.render(takes)


WRITERS.add("crema-d", Writer(write_crema_d, per_speaker=1, speakers=10, speaker_range=(2, 91), max_per_speaker=12))
