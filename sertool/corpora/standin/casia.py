"""Stand-in CASIA (Chinese emotional speech, the public 4-speaker set): Mandarin, 16 kHz.

Layout written (that of the release): ``<speaker>/<emotion>/<n>.wav`` for the four speakers
``liuchanhg``, ``zhaoquanyin`` (F), ``wangzhe``, ``zhaozuoxiang`` (M) and the six emotion folders
``angry fear happy neutral sad surprise``. As in CASIA the corpus is parallel and content-free for
the label: file ``<n>.wav`` (numbered from 201, as the public set's are) is the same sentence in
every emotion. There are no transcript files (``sertool prep casia`` keeps text null). Fear and
surprise are rendered as the nearest of the synthesiser's emotions (sad, happy; high intensity).

Example::

    generate_standin("casia", Path("stand_in/CASIA"))   # 4 speakers × 6 emotions × 2
"""

from __future__ import annotations

from sertool.corpora.casia import EMOTIONS, SPEAKERS
from sertool.corpora.sentences import SENTENCES
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer

FIRST = 201  # the public set numbers each folder's files 201–250


def write_casia(build: Build) -> None:
    """Write the four speaker folders (see the module docstring)."""
    sentences = SENTENCES["zh"]
    takes = []
    for speaker, gender in SPEAKERS.items():
        voice = build.voice(speaker, gender, "zh")
        for emotion in EMOTIONS:
            for k in range(build.per_speaker):
                n = FIRST + k
                takes.append(Take(f"{speaker}/{emotion}/{n}.wav", voice, sentences[k % len(sentences)], emotion))
    build.render(takes)


WRITERS.add("casia", Writer(write_casia, per_speaker=2, max_per_speaker=50))  # files 201–250
