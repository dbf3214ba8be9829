"""ESD, the Emotional Speech Dataset (``Emotion Speech Dataset``) → manifest, folds, inventories.

Layout read::

    Emotion Speech Dataset/<spk>/<spk>.txt                       transcripts
    Emotion Speech Dataset/<spk>/<Emotion>/{train,evaluation,test}/<spk>_<n>.wav
                                                                (or <Emotion>/*.wav: no split)

Speakers 0001–0010 speak Mandarin, 0011–0020 English; gender is not in the files (the corpus
ReadMe lists it; :data:`MALE` holds it). The corpus's own split goes to ``split`` (evaluation →
dev) and is a protocol (``corpus-split``), not the default: it shares speakers between train and
test.

Transcript files come in different encodings (GB2312, UTF-16, UTF-8, Latin-1) and separate their
three fields (id, text, emotion word) by tabs or spaces. A file that decodes without error can
still be decoded wrongly (Latin-1 bytes often form valid GB2312), so every candidate decoding is
checked line by line: the id must be the speaker's, the text must look like the speaker's
language (Han characters for Mandarin, Latin script and no Han for English, no control or
replacement characters). The decoding with the most such lines wins, falling back to a per-line
choice; lines no decoding explains are reported, and their utterances keep a null text.

Example::

    report = prepare_esd("corpora/Emotion Speech Dataset", "data/esd")
    report.kept, report.protocol   # (35000, 'speaker-kfold')
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, require_dir, visible
from sertool.data.labels import canonical_emotion, unify
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "esd"
PROTOCOLS = ("speaker-kfold", "leave-one-speaker-out", "stratified-kfold", "corpus-split")
DEFAULT_PROTOCOL = "speaker-kfold"
FINGERPRINT = ("*.wav", "*.txt")
LAYOUT = "'Emotion Speech Dataset' holding speaker folders 0001..0020"  # what CORPUS_DIR must be, for error messages
MANDARIN_SPEAKERS = tuple(f"{i:04d}" for i in range(1, 11))
ENGLISH_SPEAKERS = tuple(f"{i:04d}" for i in range(11, 21))
MALE = ("0004", "0005", "0006", "0008", "0010", "0011", "0012", "0013", "0014", "0020")
SPLITS = {"train": "train", "evaluation": "dev", "test": "test"}
EMOTIONS = ("neutral", "happy", "angry", "sad", "surprise")
# The emotion words of the transcripts' third field.
LABEL_WORDS = {
    "zh": {"中立": "neutral", "快乐": "happy", "生气": "angry", "伤心": "sad", "惊喜": "surprise"},
    "en": {"Neutral": "neutral", "Happy": "happy", "Angry": "angry", "Sad": "sad", "Surprise": "surprise"},
}
# Whole-file decodings tried, in order of preference on a tie.
ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "gb18030", "cp1252", "latin-1")
# Encodings in which a newline byte always ends a line, so a file can be decoded line by line.
BYTE_ENCODINGS = ("utf-8", "gb18030", "cp1252", "latin-1")

_LINE = re.compile(r"^(\d{4}_\d{6})[\t ]+(.*?)\s*$")
_LAST_FIELD = re.compile(r"^(.*?)([\t ]+)(\S+)$")
_EN_EXTRA = set("‘’“”–—…")
_ZH_EXTRA = set("‘’“”–—…·")


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"


def _bad_char(ch: str) -> bool:
    # Control, private-use, surrogate, unassigned and replacement characters never occur in
    # a transcript decoded right.
    return ch == "\ufffd" or (unicodedata.category(ch) in ("Cc", "Co", "Cs", "Cn") and ch != "\t")


def plausible(text: str, language: str) -> bool:
    """Whether ``text`` looks like a transcript in ``language`` (``zh`` or ``en``) decoded right.

    Example:
        >>> plausible("打远一看，它们的确很是美丽，", "zh"), plausible("´ò·", "zh")
        (True, False)
        >>> plausible("The élan of Málaga.", "en"), plausible("The 茅lan", "en")
        (True, False)
    """
    if not text or any(_bad_char(c) for c in text):
        return False
    if language == "zh":
        # Han characters, CJK and fullwidth punctuation, ASCII (digits, abbreviations).
        return any(_is_han(c) for c in text) and all(
            _is_han(c) or c.isascii() or "\u3000" <= c <= "\u303f" or "\uff00" <= c <= "\uffef" or c in _ZH_EXTRA
            for c in text
        )
    # English: Latin script (accented letters included), ASCII, typographic quotes and dashes.
    return all(
        c.isascii() or c in _EN_EXTRA or (c <= "\u024f" and unicodedata.category(c).startswith("L")) for c in text
    )


def parse_line(line: str, speaker: str, language: str) -> tuple[str, str, str | None] | None:
    """``(utterance id, text, emotion word or None)`` of a transcript line, or None if it does not
    parse as one of ``speaker``'s lines in ``language``.

    Example:
        >>> parse_line("0011_000001 The nine the eggs, I keep.  Neutral", "0011", "en")
        ('0011_000001', 'The nine the eggs, I keep.', 'Neutral')
    """
    m = _LINE.match(line.strip().lstrip("\ufeff"))
    if not m or not m.group(1).startswith(f"{speaker}_"):
        return None
    utt, rest = m.groups()
    text, label = rest, None
    last = _LAST_FIELD.match(rest)
    if last:
        words = LABEL_WORDS[language]
        word = last.group(3)
        # After a tab the emotion word is a field whatever its case; after spaces only its exact
        # spelling counts, so a sentence ending in "sad" keeps its last word.
        by_case = {w.lower(): w for w in words}
        if word in words or ("\t" in last.group(2) and word.lower() in by_case):
            text, label = last.group(1).strip(), by_case.get(word.lower(), word)
    if not plausible(text, language):
        return None
    return utt, text, label


@dataclass
class Transcripts:
    """A decoded transcript file: lines by utterance, the decoding used, lines left unexplained."""

    lines: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    encoding: str = ""
    bad_lines: list[int] = field(default_factory=list)


def _decode_whole(raw: bytes, encoding: str, speaker: str, language: str) -> Transcripts | None:
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        return None
    out = Transcripts(encoding=encoding)
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parsed = parse_line(line, speaker, language)
        if parsed is None:
            out.bad_lines.append(lineno)
        else:
            out.lines[parsed[0]] = parsed[1:]
    return out


def _decode_per_line(raw: bytes, speaker: str, language: str) -> Transcripts:
    """Each line in the first byte encoding that explains it (a file mixing encodings)."""
    out = Transcripts(encoding="mixed")
    for lineno, chunk in enumerate(raw.split(b"\n"), 1):
        if not chunk.strip():
            continue
        for encoding in BYTE_ENCODINGS:
            try:
                parsed = parse_line(chunk.decode(encoding), speaker, language)
            except UnicodeDecodeError:
                continue
            if parsed is not None:
                out.lines[parsed[0]] = parsed[1:]
                break
        else:
            out.bad_lines.append(lineno)
    return out


def decode_transcripts(raw: bytes, speaker: str, language: str) -> Transcripts:
    """The decoding of a transcript file that explains the most lines (see module doc).

    Example:
        >>> t = decode_transcripts("0001_000001\\t打远一看\\t中立\\n".encode("gb2312"), "0001", "zh")
        >>> t.encoding, t.lines["0001_000001"]
        ('gb18030', ('打远一看', '中立'))
    """
    encodings = list(ENCODINGS)
    # A byte-order mark names the encoding; try it first.
    if raw.startswith(codecs.BOM_UTF8):
        encodings.insert(0, "utf-8-sig")
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings.insert(0, "utf-16")
    best: Transcripts | None = None
    for encoding in encodings:
        result = _decode_whole(raw, encoding, speaker, language)
        if result is not None and (best is None or len(result.lines) > len(best.lines)):
            best = result
            if not best.bad_lines:
                return best
    if b"\x00" not in raw:  # not UTF-16: a line-by-line choice may explain more
        per_line = _decode_per_line(raw, speaker, language)
        if best is None or len(per_line.lines) > len(best.lines):
            best = per_line
    return best if best is not None else Transcripts(encoding="none")


def _speaker_transcripts(spk_dir: Path, language: str, log: PrepLog) -> dict[str, tuple[str, str | None]]:
    speaker = spk_dir.name
    path = spk_dir / f"{speaker}.txt"
    if not path.is_file():
        log.warn(f"{speaker}: no transcript file {speaker}.txt (texts are null)")
        return {}
    transcripts = decode_transcripts(path.read_bytes(), speaker, language)
    for lineno in transcripts.bad_lines:
        log.note("transcript lines that no encoding decodes into a valid line", f"{path.name}:{lineno}")
    return transcripts.lines


def prepare_esd(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare every speaker folder (0001–0020) of ``Emotion Speech Dataset``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    speakers = [d for d in visible(root.iterdir()) if d.is_dir() and re.fullmatch(r"\d{4}", d.name)]
    if not speakers:
        raise SertoolError(f"no speaker folders 0001..0020 under {root}: is it 'Emotion Speech Dataset'?")
    log = PrepLog()
    found: list[tuple[Path, str, str, str, str | None, tuple[str, str | None] | None]] = []
    for spk_dir in speakers:
        speaker = spk_dir.name
        if speaker in MANDARIN_SPEAKERS:
            language = "zh"
        elif speaker in ENGLISH_SPEAKERS:
            language = "en"
        else:
            log.skip("speaker outside 0001–0020", speaker, n=len(list(spk_dir.rglob("*.wav"))))
            continue
        lines = _speaker_transcripts(spk_dir, language, log)
        seen: set[str] = set()
        for emo_dir in (d for d in visible(spk_dir.iterdir()) if d.is_dir()):
            try:
                emotion = canonical_emotion(emo_dir.name)
            except SertoolError:
                emotion = None
            wavs = [(w, None) for w in visible(emo_dir.glob("*.wav"))]
            for sub in (d for d in visible(emo_dir.iterdir()) if d.is_dir()):
                split = SPLITS.get(sub.name.lower())
                if split is None:
                    log.skip("audio in an unknown split folder", f"{speaker}/{emo_dir.name}/{sub.name}",
                             n=len(visible(sub.glob("*.wav"))))
                    continue
                wavs.extend((w, split) for w in visible(sub.glob("*.wav")))
            if emotion not in EMOTIONS:
                log.skip("unknown emotion folder", f"{speaker}/{emo_dir.name}", n=len(wavs))
                continue
            for wav, split in wavs:
                seen.add(wav.stem)
                found.append((wav, speaker, language, emotion, split, lines.get(wav.stem)))
        for utt in sorted(set(lines) - seen):
            log.note("transcript lines without audio", utt)

    utts = []
    for (wav, speaker, language, emotion, split, line), info in zip(
        found, probe_audio([f[0] for f in found], jobs=jobs)
    ):
        if isinstance(info, str):
            log.skip(info, f"{speaker}/{wav.parent.name}/{wav.name}")
            continue
        text, word = line if line is not None else (None, None)
        if line is None:
            log.note("utterances without a usable transcript line (kept, text null)", wav.stem)
        if word is not None and LABEL_WORDS[language][word] != emotion:
            log.note("transcript emotion words that disagree with their folder (folder used)", wav.stem)
        esc, eis = unify(emotion, None)
        utts.append(
            Utterance(
                id=f"{CORPUS}/{wav.stem}",
                corpus=CORPUS,
                audio=str(wav),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/{speaker}",
                gender="M" if speaker in MALE else "F",
                language=language,
                session=None,
                style="acted",
                text=text,
                emotion=emotion,
                # The corpus's own word for the emotion (生气, Angry), else its folder name.
                emotion_raw=word if word is not None else _folder_name(wav, split),
                esc=esc,
                eis=eis,
                split=split,
            )
        )
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)


def _folder_name(wav: Path, split: str | None) -> str:
    """The emotion folder of ``wav`` (one level up when it sits in a split folder)."""
    return (wav.parent.parent if split is not None else wav.parent).name
