"""Stand-in AISHELL-1 (the root holding ``data_aishell/`` and ``resource_aishell/``): read Mandarin, 16 kHz.

Layout written (that of the release, its per-speaker archives already extracted)::

    data_aishell/wav/{train,dev,test}/S<nnnn>/BAC009S<nnnn>W<nnnn>.wav
    data_aishell/transcript/aishell_transcript_v0.8.txt      "<utterance> 而 对 楼市 成交 ..."
    resource_aishell/speaker.info                             "0002 F"

Speakers are numbered as in the release's splits (train from S0002, dev from S0724, test from
S0764); ``speakers`` (default 6) are spread as LibriSpeech's readers are: a quarter (at least one) each to
dev and test, the rest to train.
Transcripts are the spoken sentences without punctuation, one character per word: the release
segments into words, and a character split reads the same to the phoneme and character tasks.
As in the release, the transcript file lists an utterance whose audio is not shipped, so
``sertool prep aishell`` reports one ``transcript without audio``.

Example::

    generate_standin("aishell", Path("stand_in/aishell"))   # 6 speakers × 3 utterances
"""

from __future__ import annotations

from sertool.corpora.sentences import SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer
from sertool.corpora.standin.librispeech import subset_of

FIRST = {"train-clean-100": 2, "dev-clean": 724, "test-clean": 764}  # first speaker number of each split
SPLIT = {"train-clean-100": "train", "dev-clean": "dev", "test-clean": "test"}


def segment(text: str) -> str:
    """A Mandarin sentence as a transcript line: punctuation removed, characters space-separated.

    Example:
        >>> segment("火车九点半从车站出发。")
        '火 车 九 点 半 从 车 站 出 发'
    """
    return " ".join(c for c in text if "\u4e00" <= c <= "\u9fff" or c.isalnum())


def write_aishell(build: Build) -> None:
    """Write the three splits, the transcript and ``speaker.info`` (see the module docstring)."""
    sentences = SENTENCES["zh"]
    takes, lines, info = [], [], []
    used = dict.fromkeys(FIRST, 0)
    for i in range(build.speakers):
        group = subset_of(i, build.speakers)
        number = f"{FIRST[group] + used[group]:04d}"
        used[group] += 1
        gender = "F" if i % 2 else "M"
        voice = build.voice(number, gender, "zh")
        info.append(f"{number} {gender}\n")
        start = int(build.rng(number).integers(len(sentences)))
        for k in range(build.per_speaker):
            utt = f"BAC009S{number}W{121 + k:04d}"
            text = sentences[(start + k) % len(sentences)]
            takes.append(Take(f"data_aishell/wav/{SPLIT[group]}/S{number}/{utt}.wav", voice, text))
            lines.append(f"{utt} {segment(text)}\n")
    # the release transcribes utterances it ships no audio for
    lines.append(f"BAC009S{FIRST['train-clean-100']:04d}W0120 {segment(sentences[0])}\n")
    build.write_text("data_aishell/transcript/aishell_transcript_v0.8.txt", "".join(sorted(lines)))
    build.write_text("resource_aishell/speaker.info", "".join(info))
    build.render(takes)


WRITERS.add("aishell", Writer(write_aishell, per_speaker=3, speakers=6, speaker_range=(3, 40), max_per_speaker=200))
