"""``sertool eval EXP…``: score every trained fold; write scores.json files and confusion plots.

Several experiments are scored one after the other in one process (a recipe's table rows pay
for loading torch once).

``--test MANIFEST`` scores every fold's model on all of another corpus instead (cross-corpus:
:mod:`sertool.train.cross`), into ``EXP/cross/<name>/scores.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import command, console
from sertool.errors import SertoolError


@command
def evaluate(
    exp_dirs: Annotated[list[Path], typer.Argument(help="Experiment directories written by `sertool train`.",
                                                   metavar="EXP...")],
    checkpoint: Annotated[str, typer.Option(help="Which checkpoint of each fold: best or last.")] = "best",
    split: Annotated[str, typer.Option(help="Fold set to score: test or dev.")] = "test",
    partial: Annotated[bool, typer.Option("--partial", help="Score the finished folds of an incomplete "
                                          "experiment (marked \"complete\": false).")] = False,
    test: Annotated[Optional[Path], typer.Option(
        "--test", help="Cross-corpus: score every fold's model on all utterances of this manifest.jsonl (another "
                       "corpus); scores go to EXP/cross/NAME/scores.json.", metavar="MANIFEST",
        show_default=False)] = None,
    label_set: Annotated[Optional[str], typer.Option(
        "--label-set", help="With --test: the label set mapping the test corpus's labels onto the model's classes "
                            "(default: the experiment's); utterances outside it are counted and skipped.",
        metavar="NAME", show_default=False)] = None,
    features: Annotated[Optional[list[str]], typer.Option(
        "--features", help="With --test: the test corpus's feature directory, extracted with the model's extractor "
                           "(NAME=DIR for each input of a model with several; not needed for audio inputs).",
        metavar="DIR", show_default=False)] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="With --test: the folder under EXP/cross (default: the test corpus's name).",
        metavar="NAME", show_default=False)] = None,
) -> None:
    """Print WA, UA and per-class recall per fold, and mean ± std over folds."""
    from sertool.evaluation.report import format_table

    if test is None:
        if label_set or features or name:
            raise SertoolError("--label-set, --features and --name go with --test MANIFEST (cross-corpus scoring)")
        from sertool.train.runner import evaluate_experiment

        for exp_dir in exp_dirs:
            if len(exp_dirs) > 1:
                console.print(f"{exp_dir}", markup=False, highlight=False)
            console.print(format_table(evaluate_experiment(exp_dir, checkpoint=checkpoint, split=split,
                                                           partial=partial)))
        return
    if len(exp_dirs) > 1:
        raise SertoolError("--test scores one experiment at a time (loop over experiments for a cross-corpus matrix)")
    exp_dir = exp_dirs[0]
    if split != "test":
        raise SertoolError("--split chooses the experiment's own fold set; --test scores all of MANIFEST")
    from sertool.train.cross import score_cross_corpus, skipped_line

    summary = score_cross_corpus(exp_dir, test, features=features, label_set=label_set, name=name,
                                 checkpoint=checkpoint, partial=partial)
    console.print(format_table(summary, title=f"cross-corpus evaluation on {summary['name']} (%)"))
    console.print(skipped_line(summary), markup=False, highlight=False)
