"""IEMOCAP (``IEMOCAP_full_release``) → manifest, folds, token inventories.

Layout read::

    IEMOCAP_full_release/Session1..5/
        sentences/wav/<dialog>/<utterance>.wav
        dialog/EmoEvaluation/<dialog>.txt       label lines; subfolders (Categorical/, Attribute/,
                                                Self-evaluation/) and macOS ``._*`` files are not read
        dialog/transcriptions/<dialog>.txt      "<utterance> [start-end]: text"

A label line is ``[start - end]<TAB>Ses01F_impro01_M000<TAB>neu<TAB>[V, A, D]``. Every labelled
utterance is kept: ``xxx`` (no agreement) gets a null emotion, V/A/D go to ``vad`` and
dominance rescaled from 1–5 onto 1–4 is the intensity (speecheq.txt §3.1). The speaker is the
actor who speaks: the F/M before the last three digits of the utterance name, so
``Ses01F_impro01_M000`` is ``Ses01M`` whatever the dialog name looks like (``Ses03M_impro05a``,
``Ses05M_script01_1b``).

Folds: leave-one-session-out (default), leave-one-speaker-out, speaker-kfold, stratified-kfold
and ``dialog-10fold``, the decomposed-speech paper's ten folds by dialog prefix (``Ses01F`` …
``Ses05M``; speaker-dependent, see :mod:`sertool.data.folds`).

Example::

    report = prepare_iemocap("corpora/IEMOCAP_full_release", "data/iemocap")
    report.kept, report.protocol   # (10039, 'leave-one-session-out')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, read_lines, require_dir, visible
from sertool.data.labels import canonical_emotion, eis_from_rating, get_label_set, unify
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "iemocap"
PROTOCOLS = ("leave-one-session-out", "leave-one-speaker-out", "speaker-kfold", "stratified-kfold", "dialog-10fold")
DEFAULT_PROTOCOL = "leave-one-session-out"
FINGERPRINT = (
    "Session*/sentences/wav/*/*.wav",
    "Session*/dialog/EmoEvaluation/*.txt",
    "Session*/dialog/transcriptions/*.txt",
)
LAYOUT = "IEMOCAP_full_release with Session1..Session5"  # what CORPUS_DIR must be, for error messages
# Sizes of the full release (SpeechBrain checks the same 4-class number).
FULL_RELEASE_UTTERANCES = 10039
FULL_RELEASE_4CLASS = 5531
NO_AGREEMENT = "xxx"
DOMINANCE_RANGE = (1.0, 5.0)

_NUM = r"(-?\d+(?:\.\d*)?)"
_LABEL_LINE = re.compile(
    rf"^\[\s*{_NUM}\s*-\s*{_NUM}\s*\]\s+(\S+)\s+(\S+)\s+\[\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*\]\s*$"
)
# Speaking actor = the F/M right before the last three digits; the session = the Ses01 prefix.
_UTTERANCE = re.compile(r"^(Ses\d\d)[FM]_\S+_([FM])\d{3}$")
_UTTERANCE_ANYWHERE = re.compile(r"Ses\d\d[FM]_\S+?_[FM]\d{3}\b")
_TRANSCRIPT_LINE = re.compile(r"^(\S+)\s+\[[^\]]*\]:\s?(.*)$")
# Non-speech tags ([LAUGHTER], [BREATHING], [GARBAGE], ...) are not words.
_TAG = re.compile(r"\[[^\]]*\]")


@dataclass
class LabelLine:
    """One utterance's line of an EmoEvaluation file."""

    utterance: str
    code: str
    vad: tuple[float, float, float]
    where: str  # "Ses01F_impro01.txt:3", for messages


def parse_emo_evaluation(path: Path, log: PrepLog) -> list[LabelLine]:
    """Label lines of one top-level EmoEvaluation file; malformed ones are counted in ``log``.

    Example::

        parse_emo_evaluation(Path(".../EmoEvaluation/Ses01F_impro01.txt"), PrepLog())[0].code   # 'neu'
    """
    lines = []
    for lineno, line in enumerate(read_lines(path), 1):
        # Summary lines start with "[start - end]"; evaluator lines ("C-E2:", "A-F1:") and the
        # "%" header are not labels.
        if not line.startswith("["):
            continue
        where = f"{path.name}:{lineno}"
        m = _LABEL_LINE.match(line)
        if not m:
            log.skip("malformed label line", where)
            loose = _UTTERANCE_ANYWHERE.search(line)
            if loose:
                lines.append(LabelLine(loose.group(0), "", (0.0, 0.0, 0.0), where))  # accounted, not kept
            continue
        _, _, utt, code, v, a, d = m.groups()
        lines.append(LabelLine(utt, code, (float(v), float(a), float(d)), where))
    return lines


def clean_transcript(text: str) -> str:
    """A transcript without its tags, whitespace collapsed; internal punctuation kept.

    Example:
        >>> clean_transcript("[LAUGHTER] Oh, no -- really? [BREATHING]")
        'Oh, no -- really?'
        >>> clean_transcript("[LAUGHTER]")
        ''
    """
    return " ".join(_TAG.sub(" ", text).split())


def read_transcriptions(path: Path) -> dict[str, str]:
    """Utterance → cleaned transcript of one transcriptions file (other lines are not utterances)."""
    out = {}
    for line in read_lines(path):
        m = _TRANSCRIPT_LINE.match(line.strip())
        if m:
            out[m.group(1)] = clean_transcript(m.group(2))
    return out


def prepare_iemocap(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare every session of ``IEMOCAP_full_release`` present in ``corpus_dir``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    sessions = [root / f"Session{i}" for i in range(1, 6) if (root / f"Session{i}").is_dir()]
    if not sessions:
        raise SertoolError(f"no Session1..Session5 under {root}: is it IEMOCAP_full_release?")
    log = PrepLog()
    labels: list[LabelLine] = []
    transcripts: dict[str, str] = {}
    wavs: dict[str, Path] = {}
    for session in sessions:
        emo_dir = session / "dialog" / "EmoEvaluation"
        if not emo_dir.is_dir():
            raise SertoolError(f"{session.name}: no dialog/EmoEvaluation folder under {session}")
        for path in visible(emo_dir.glob("*.txt")):  # top level only: not Categorical/, Attribute/
            labels.extend(parse_emo_evaluation(path, log))
        for path in visible((session / "dialog" / "transcriptions").glob("*.txt")):
            transcripts.update(read_transcriptions(path))
        for path in visible((session / "sentences" / "wav").glob("*/*.wav")):
            wavs[path.stem] = path

    labelled = {line.utterance for line in labels}
    for name in sorted(set(wavs) - labelled):
        log.skip("audio without a label line", name)
    usable: list[tuple[LabelLine, Path, str, str]] = []
    for line in labels:
        if not line.code:
            continue  # malformed: already counted
        m = _UTTERANCE.match(line.utterance)
        if not m:
            log.skip("utterance name not in IEMOCAP form", line.where)
            continue
        if line.code != NO_AGREEMENT:
            try:
                canonical_emotion(line.code)
            except SertoolError:
                log.skip("unknown emotion label", f"{line.where} ({line.code})")
                continue
        wav = wavs.get(line.utterance)
        if wav is None:
            log.skip("audio file missing", line.utterance)
            continue
        usable.append((line, wav, m.group(1), m.group(2)))

    infos = probe_audio([wav for _, wav, _, _ in usable], jobs=jobs)
    utts: list[Utterance] = []
    for (line, wav, session, gender), info in zip(usable, infos):
        if isinstance(info, str):
            log.skip(info, line.utterance)
            continue
        emotion = None if line.code == NO_AGREEMENT else canonical_emotion(line.code)
        esc, eis = unify(emotion, eis_from_rating(line.vad[2], *DOMINANCE_RANGE))
        text = transcripts.get(line.utterance)
        if text is None:
            log.note("utterances without a transcript line (kept, text null)", line.utterance)
        utts.append(
            Utterance(
                id=f"{CORPUS}/{line.utterance}",
                corpus=CORPUS,
                audio=str(wav),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/{session}{gender}",
                gender=gender,
                language="en",
                session=session,
                style="acted",
                text=text,
                emotion=emotion,
                emotion_raw=line.code,
                esc=esc,
                eis=eis,
                vad=list(line.vad),
            )
        )

    four = get_label_set("iemocap4")
    n4 = sum(four.label_of(u.emotion) is not None for u in utts)
    present = ", ".join(s.name for s in sessions)
    if len(utts) != FULL_RELEASE_UTTERANCES:
        log.warn(f"the full release has {FULL_RELEASE_UTTERANCES} utterances, found {len(utts)} ({present})")
    if n4 != FULL_RELEASE_4CLASS:
        log.warn(f"the full release has {FULL_RELEASE_4CLASS} utterances in the 4-class set "
                 f"(excited merged into happy), found {n4} ({present})")
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
