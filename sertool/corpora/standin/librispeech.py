"""Stand-in LibriSpeech: read English speech, FLAC at 16 kHz, for the phoneme and character tasks.

Layout written (that of the release)::

    LibriSpeech/SPEAKERS.TXT, CHAPTERS.TXT            ";ID |SEX| SUBSET |MINUTES| NAME" tables
    LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<nnnn>.flac
    LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt   "<utterance> UPPER CASE WORDS"

``speakers`` readers (default 6, genders alternating) are spread over ``train-clean-100``,
``dev-clean`` and ``test-clean`` (a quarter each, at least one, in dev and test; the rest in
train), each reading one chapter of ``per_speaker`` utterances. Transcripts are the spoken
sentences in the corpus's normalisation: upper case, no punctuation but apostrophes. The speech
is neutral (read).

Example::

    generate_standin("librispeech", Path("stand_in/LibriSpeech"))   # 6 readers × 3 utterances
"""

from __future__ import annotations

import re

from sertool.corpora.sentences import SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer

SUBSETS = ("train-clean-100", "dev-clean", "test-clean")
SPEAKERS_HEADER = (
    "; LibriSpeech stand-in: synthetic readers (sertool stand-in), not LibriSpeech's\n"
    ";ID  |SEX| SUBSET           |MINUTES| NAME\n"
)
CHAPTERS_HEADER = ";ID    |READER|MINUTES| SUBSET           | PROJ.|BOOK ID| CH. TITLE | PROJECT TITLE\n"


def normalise(text: str) -> str:
    """A sentence as LibriSpeech transcribes it: upper case, words only (apostrophes kept).

    Example:
        >>> normalise("The bus stops in front of the library, every hour.")
        'THE BUS STOPS IN FRONT OF THE LIBRARY EVERY HOUR'
    """
    return " ".join(re.sub(r"[^A-Za-z']+", " ", text).upper().split())


def subset_of(i: int, n: int) -> str:
    """The subset of reader ``i`` of ``n``: a quarter (at least one) each to test and dev, the rest to train.

    Example:
        >>> [subset_of(i, 4)[:4] for i in range(4)]
        ['trai', 'trai', 'dev-', 'test']
    """
    n_test = max(1, n // 4)
    n_dev = max(1, n // 4)
    if i >= n - n_test:
        return SUBSETS[2]
    return SUBSETS[1] if i >= n - n_test - n_dev else SUBSETS[0]


def write_librispeech(build: Build) -> None:
    """Write the readers' chapters and the speaker and chapter tables (see the module docstring)."""
    sentences = SENTENCES["en"]
    takes, speakers, chapters = [], [SPEAKERS_HEADER], [CHAPTERS_HEADER]
    rng = build.rng("ids")
    # Reader and chapter numbers as LibriSpeech's look (distinct, unordered), drawn once per seed.
    ids = rng.choice(range(100, 9000), size=build.speakers, replace=False)
    for i, spk in enumerate(int(x) for x in ids):
        subset = subset_of(i, build.speakers)
        gender = "F" if i % 2 else "M"
        chapter = int(rng.integers(1000, 300000))
        voice = build.voice(str(spk), gender, "en")
        lines = []
        start = int(rng.integers(len(sentences)))
        for k in range(build.per_speaker):
            utt = f"{spk}-{chapter}-{k:04d}"
            text = sentences[(start + k) % len(sentences)]
            takes.append(Take(f"{subset}/{spk}/{chapter}/{utt}.flac", voice, text))
            lines.append(f"{utt} {normalise(text)}\n")
        build.write_text(f"{subset}/{spk}/{chapter}/{spk}-{chapter}.trans.txt", "".join(lines))
        minutes = build.per_speaker * 3 / 60
        speakers.append(f"{spk:<5}| {gender} | {subset:<16} | {minutes:5.2f} | Stand-in reader {i + 1}\n")
        chapters.append(f"{chapter:<7}| {spk:<5}| {minutes:5.2f} | {subset:<16} | {i + 1:5d} | {i + 1:6d} | "
                        f"Chapter {i + 1} | Stand-in book {i + 1}\n")
    build.write_text("SPEAKERS.TXT", "".join(speakers))
    build.write_text("CHAPTERS.TXT", "".join(chapters))
    build.render(takes)


WRITERS.add("librispeech", Writer(write_librispeech, per_speaker=3, speakers=6, speaker_range=(3, 40),
                                  max_per_speaker=200))
