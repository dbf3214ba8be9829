"""``sertool eval EXP``: score every trained fold; write scores.json files and confusion plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sertool.cli.common import command, console


@command
def evaluate(
    exp_dir: Annotated[Path, typer.Argument(help="Experiment directory written by `sertool train`.")],
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint of each fold: best or last.")] = "best",
    split: Annotated[str, typer.Option(help="Fold set to score: test or dev.")] = "test",
    partial: Annotated[bool, typer.Option("--partial", help="Score the finished folds of an incomplete "
                                          "experiment (marked \"complete\": false).")] = False,
) -> None:
    """Print WA, UA and per-class recall per fold, and mean ± std over folds."""
    from sertool.evaluation.report import format_table
    from sertool.train.runner import evaluate_experiment

    scores = evaluate_experiment(exp_dir, checkpoint=checkpoint, split=split, partial=partial)
    console.print(format_table(scores))
