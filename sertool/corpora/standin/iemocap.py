"""Stand-in ``IEMOCAP_full_release``: 5 sessions × 2 actors (F, M), English, 16 kHz.

Layout written (that of the release; ``dialog/avi``, ``MOCAP_*`` and ``sentences/ForcedAlignment``
are left out, nothing reads them)::

    Session<s>/sentences/wav/<dialog>/<dialog>_<F|M><nnn>.wav
    Session<s>/dialog/wav/<dialog>.wav                          the whole dialog
    Session<s>/dialog/EmoEvaluation/<dialog>.txt                label blocks (below)
    Session<s>/dialog/EmoEvaluation/Categorical/<dialog>_e2_cat.txt, Attribute/<dialog>_e2_atr.txt
    Session<s>/dialog/transcriptions/<dialog>.txt               "<utterance> [start-end]: text"

Each session has an improvised dialog (``Ses01F_impro01``) and a scripted one
(``Ses01M_script01_1``); both actors take turns in each. Every actor says ``per_speaker``
utterances of each label code the release uses — ``neu hap exc ang sad fru sur fea dis oth`` and
``xxx`` (no agreement) — so the 4-class filter (neutral, happy + excited, angry, sad) keeps 5 of
11 codes. A label block is ``[start - end]<TAB>utterance<TAB>code<TAB>[V, A, D]`` followed by the
evaluators' lines; V/A/D are averages of ratings on 1–5 around a value typical of the code, and
the rendering's intensity follows arousal.

Example::

    generate_standin("iemocap", Path("stand_in/IEMOCAP_full_release"))   # 110 utterances
"""

from __future__ import annotations

import numpy as np

from sertool.corpora.sentences import SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer, rendering
from sertool.data.labels import canonical_emotion

# Label code → (V, A, D) typical of it, and the evaluators' category name (Categorical/ files).
CODES: dict[str, tuple[tuple[float, float, float], str]] = {
    "neu": ((3.0, 2.0, 2.5), "Neutral"),
    "hap": ((4.0, 3.0, 3.0), "Happiness"),
    "exc": ((4.0, 4.0, 3.5), "Excited"),
    "ang": ((1.5, 4.0, 4.0), "Anger"),
    "sad": ((1.5, 1.5, 2.0), "Sadness"),
    "fru": ((2.0, 3.5, 3.5), "Frustration"),
    "sur": ((3.5, 4.0, 3.0), "Surprise"),
    "fea": ((1.5, 3.5, 2.0), "Fear"),
    "dis": ((1.5, 3.0, 3.5), "Disgust"),
    "oth": ((3.0, 3.0, 3.0), "Other"),
    "xxx": ((2.5, 3.0, 3.0), ""),  # no majority: the evaluators disagree (see _evaluators)
}
HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
SAMPLE_RATE = 16000
_GAP = 0.6  # seconds between turns in a dialog


def _vad(rng: np.random.Generator, code: str) -> tuple[float, float, float]:
    """V/A/D of one utterance: the code's typical value plus a rater's spread, on 1–5 in thirds
    and halves as averages of two or three ratings are."""
    base = np.array(CODES[code][0])
    step = rng.choice([-2 / 3, -1 / 2, -1 / 3, 0.0, 0.0, 1 / 3, 1 / 2, 2 / 3], size=3)
    v, a, d = np.clip(base + step, 1.0, 5.0)
    return float(v), float(a), float(d)


def _level(arousal: float) -> str:
    """Rendering intensity from arousal (1–5)."""
    return "low" if arousal < 2.75 else "medium" if arousal < 3.75 else "high"


def _evaluators(rng: np.random.Generator, code: str, vad: tuple[float, float, float]) -> list[str]:
    """The evaluator lines under a label block: three categorical, two dimensional (ratings 1–5)."""
    names = [c[1] for c in CODES.values() if c[1]]
    if code == "xxx":
        cats = list(rng.choice(names, size=3, replace=False))
    else:
        cats = [CODES[code][1]] * 2 + [str(rng.choice(names))]
    lines = [f"C-E{i + 1}:\t{c};\t()" for i, c in enumerate(cats)]
    for i in (1, 2):
        v, a, d = (int(np.clip(round(x + rng.choice([-0.5, 0.0, 0.5])), 1, 5)) for x in vad)
        lines.append(f"A-E{i}:\tval {v}; act {a}; dom  {d};\t()")
    return lines


def write_iemocap(build: Build) -> None:
    """Write the five sessions (see the module docstring)."""
    import soundfile as sf

    sentences = SENTENCES["en"]
    # turns[(session, dialog)] = [(utterance, code, vad, text, take)] in speaking order
    turns: dict[tuple[int, str], list] = {}
    rng = build.rng("labels")
    for s in range(1, 6):
        ses = f"Ses{s:02d}"
        voices = {g: build.voice(f"{ses}{g}", g, "en") for g in "FM"}
        dialogs = [f"{ses}F_impro01", f"{ses}M_script01_1"]
        for dialog in dialogs:
            turns[(s, dialog)] = []
        count = {(d, g): 0 for d in dialogs for g in "FM"}
        order = build.rng(ses, "text").permutation(len(sentences))
        n = 0
        for rep in range(build.per_speaker):
            for c, code in enumerate(CODES):
                for g in "FM":
                    dialog = dialogs[(c + rep) % 2]
                    utt = f"{dialog}_{g}{count[(dialog, g)]:03d}"
                    count[(dialog, g)] += 1
                    vad = _vad(rng, code)
                    text = sentences[int(order[n % len(order)])]
                    n += 1
                    emotion = None if code == "xxx" else canonical_emotion(code)
                    _, level = rendering(emotion, _level(vad[1]))
                    take = Take(f"Session{s}/sentences/wav/{dialog}/{utt}.wav", voices[g], text, emotion, level)
                    turns[(s, dialog)].append((utt, code, vad, text, take))
    seconds = build.render([t[4] for dialog_turns in turns.values() for t in dialog_turns])

    for (s, dialog), dialog_turns in turns.items():
        labels, cats, attrs, trans, waves = [HEADER], [], [], [], []
        t = 0.0
        for utt, code, vad, text, take in dialog_turns:
            start, end = t + _GAP, t + _GAP + seconds[take.path]
            t = end
            v, a, d = vad
            labels.append(f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]\n")
            labels.append("\n".join(_evaluators(rng, code, vad)) + "\n\n")
            cats.append(f"{utt} :{CODES[code][1] or 'Neutral'}; ()\n")
            attrs.append(f"{utt} :act {round(a)}; val {round(v)}; dom  {round(d)}; ()\n")
            trans.append(f"{utt} [{start:08.4f}-{end:08.4f}]: {text}\n")
            wave, _ = sf.read(build.root / take.path, dtype="float32")
            waves += [np.zeros(int(_GAP * SAMPLE_RATE), dtype=np.float32), wave]
        base = f"Session{s}/dialog"
        build.write_text(f"{base}/EmoEvaluation/{dialog}.txt", "".join(labels))
        build.write_text(f"{base}/EmoEvaluation/Categorical/{dialog}_e2_cat.txt", "".join(cats))
        build.write_text(f"{base}/EmoEvaluation/Attribute/{dialog}_e2_atr.txt", "".join(attrs))
        build.write_text(f"{base}/transcriptions/{dialog}.txt", "".join(trans))
        (build.root / base / "wav").mkdir(parents=True, exist_ok=True)
        sf.write(str(build.root / base / "wav" / f"{dialog}.wav"), np.concatenate(waves), SAMPLE_RATE,
                 subtype="PCM_16")


WRITERS.add("iemocap", Writer(write_iemocap, per_speaker=1))
