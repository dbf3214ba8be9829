"""``sertool infer EXP_OR_MODEL clip.wav ...``: one JSON object per clip on stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import command


@command
def infer(
    model: Annotated[Path, typer.Argument(help="Experiment directory or a checkpoint file (.pt).")],
    clips: Annotated[list[Path], typer.Argument(help="Audio files (any rate and channel count).")],
    fold: Annotated[Optional[str], typer.Option(help="Fold whose model to use (default: best dev UA).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
) -> None:
    """Predict emotion (and intensity/gender where the model has those heads) for each clip."""
    from sertool.inference import Predictor

    predictor = Predictor.load(model, fold=fold, device=device)
    for clip in clips:
        typer.echo(json.dumps(predictor.predict_file(clip), ensure_ascii=False))
