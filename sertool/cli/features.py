"""``sertool features MANIFEST... OUT_DIR --extractor NAME``: features into HDF5 shards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import Force, Jobs, command, console


@command
def features(
    paths: Annotated[list[Path], typer.Argument(help="One or more manifest.jsonl files, then OUT_DIR.")],
    extractor: Annotated[str, typer.Option("--extractor", "-e", help="Extractor name(s), '+'-joined for one pass: "
                                           "fbank, logmel, mel80 (SpeechEQ), logfbank40 (selective MTL), "
                                           "spectrogram, speechsplit (decomposed speech), pitch, waveform.")] = "fbank",
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with extractor settings.")] = None,
    jobs: Jobs = 1,
    force: Force = False,
) -> None:
    """Extract features for every utterance of the manifests into OUT_DIR (shards, index, CMVN).

    One extractor writes OUT_DIR itself; '+'-joined extractors read each file once, one OUT_DIR/<name>/ each.

    --config YAML: one section per extractor name, plus 'augment', 'random_resample' and 'shard_size'.

    An interrupted run keeps its finished shards; rerunning resumes.
    """
    from sertool.errors import SertoolError
    from sertool.features.pipeline import extract_features

    if len(paths) < 2:
        raise SertoolError("give at least one manifest and an output directory")
    *manifests, out_dir = paths
    summary = extract_features(manifests, out_dir, extractor, config=config, jobs=jobs, force=force)
    console.print(summary)
