"""Stand-in ``Emotion Speech Dataset`` (ESD): speakers 0001–0010 Mandarin, 0011–0020 English, 16 kHz.

Layout written (that of the release)::

    <spk>/<spk>.txt                                         "<spk>_<nnnnnn><TAB>text<TAB>emotion word"
    <spk>/<Emotion>/{train,evaluation,test}/<spk>_<nnnnnn>.wav

As in ESD, the corpus is parallel: utterance ``n`` of each emotion block (Neutral 1–350, Angry
351–700, Happy 701–1050, Sad 1051–1400, Surprise 1401–1750) says the same sentence, and each
block's first 20 numbers are ``evaluation``, the next 30 ``test`` and the rest ``train``. Each
speaker says ``per_speaker`` sentences per emotion, the split cycling so that all three occur.
Genders are ESD's (:data:`sertool.corpora.esd.MALE`). Surprise is rendered as high-intensity happy
speech but keeps its folder and word.

The transcript files come in the encodings the release mixes — GB2312, UTF-16 with its
byte-order mark, UTF-8, and a GB2312 file with UTF-8 lines in it for Mandarin; UTF-8, UTF-16 and
Latin-1 for English (whose sentences are ASCII, so the Latin-1 file reads as UTF-8 too) — with
tab or space separators, as ``sertool prep esd`` must decode them all.

Example::

    generate_standin("esd", Path("stand_in/Emotion Speech Dataset"))   # 20 speakers × 5 emotions × 2
"""

from __future__ import annotations

from sertool.corpora.esd import ENGLISH_SPEAKERS, LABEL_WORDS, MALE, MANDARIN_SPEAKERS
from sertool.corpora.sentences import SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer

# Emotion folders in the order of the release's numbering blocks of 350 utterances.
BLOCKS = ("Neutral", "Angry", "Happy", "Sad", "Surprise")
BLOCK = 350
# Split folder → first number within a block.
SPLIT_START = {"evaluation": 1, "test": 21, "train": 51}
# Transcript file encodings, cycled over each language's speakers.
ENCODINGS = {"zh": ("gb2312", "utf-16", "utf-8", "mixed"), "en": ("utf-8", "utf-16", "latin-1")}


def encode_transcript(lines: list[str], encoding: str) -> bytes:
    """A transcript file's bytes: ``mixed`` is GB2312 with every third line in UTF-8.

    Example:
        >>> encode_transcript(["0001_000001\\t中立\\t中立", "0001_000002\\t中立\\t中立"], "mixed")[:14]
        b'0001_000001\\t\\xd6\\xd0'
    """
    if encoding != "mixed":
        return "".join(f"{line}\r\n" for line in lines).encode(encoding)
    return b"".join(f"{line}\r\n".encode("utf-8" if i % 3 == 2 else "gb2312") for i, line in enumerate(lines))


def write_esd(build: Build) -> None:
    """Write the twenty speaker folders (see the module docstring)."""
    takes: list[Take] = []
    transcripts: dict[str, list[str]] = {}
    splits = tuple(SPLIT_START)
    for language, speakers in (("zh", MANDARIN_SPEAKERS), ("en", ENGLISH_SPEAKERS)):
        sentences = SENTENCES[language]
        for i, spk in enumerate(speakers):
            voice = build.voice(spk, "M" if spk in MALE else "F", language)
            lines = []
            for b, folder in enumerate(BLOCKS):
                word = next(w for w, e in LABEL_WORDS[language].items() if e == folder.lower())
                emotion = folder.lower()
                for k in range(build.per_speaker):
                    split = splits[(k + b + i) % len(splits)]
                    n = SPLIT_START[split] + k
                    text = sentences[(n - 1) % len(sentences)]  # parallel: the same sentence in every block
                    utt = f"{spk}_{b * BLOCK + n:06d}"
                    # English speakers' files separate by spaces in part of the release, tabs elsewhere
                    sep = " " if language == "en" and i % 2 else "\t"
                    lines.append(f"{utt}{sep}{text}{sep}{word}")
                    takes.append(Take(f"{spk}/{folder}/{split}/{utt}.wav", voice, text, emotion))
            transcripts[spk] = sorted(lines)
            encodings = ENCODINGS[language]
            build.write_bytes(f"{spk}/{spk}.txt", encode_transcript(transcripts[spk], encodings[i % len(encodings)]))
    build.render(takes)


WRITERS.add("esd", Writer(write_esd, per_speaker=2, max_per_speaker=20))  # 20: the evaluation numbers
