"""``sertool stand-in CORPUS OUT_DIR``: a miniature synthetic copy of a corpus, in its real layout.

Example::

    sertool stand-in iemocap stand_in/IEMOCAP_full_release
    sertool prep iemocap stand_in/IEMOCAP_full_release data/iemocap
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import Jobs, Seed, command, console


@command
def stand_in(
    corpus: Annotated[str, typer.Argument(help="iemocap, esd, librispeech, aishell, casia, ravdess, crema-d or "
                                          "folder.")],
    out_dir: Annotated[Path, typer.Argument(help="Where the corpus tree goes: the directory `sertool prep "
                                            "CORPUS` reads (e.g. stand_in/IEMOCAP_full_release).")],
    seed: Seed = 0,
    jobs: Jobs = 2,
    per_speaker: Annotated[Optional[int], typer.Option(
        "--per-speaker", min=1, help="Utterances per speaker and label class (LibriSpeech, AISHELL: per "
        "speaker; default: each corpus's tiny size).")] = None,
    speakers: Annotated[Optional[int], typer.Option(
        "--speakers", min=1, help="Speakers, where the layout lets the number vary (RAVDESS actors, "
        "CREMA-D actors, LibriSpeech, AISHELL, folder).")] = None,
    like: Annotated[Optional[str], typer.Option(
        "--like", help="folder only: seqd (SpeechEQ's Mandarin SEQD, default) or calls (selective MTL's "
        "spontaneous call-centre corpus).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if OUT_DIR is a complete stand-in "
                                        "with the same settings.")] = False,
) -> None:
    """Write a stand-in corpus (synthetic speech, the corpus's real layout) for dry runs of `sertool prep`.

    No figure from a stand-in says anything about the real corpus.
    """
    from sertool.corpora.standin import generate_standin

    result = generate_standin(corpus, out_dir, seed=seed, jobs=jobs, per_speaker=per_speaker, speakers=speakers,
                              like=like, force=force)
    if result.created:
        console.print(f"stand-in {corpus}: wrote {result.files} files to {result.out_dir}")
    else:
        console.print(f"stand-in {corpus}: {result.out_dir} is up to date (use --force to rebuild)")
