"""``sertool train CONFIG.yaml --exp-dir EXP [key.path value ...]``: train one fold or all folds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import command


@command
def train(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(help="Experiment YAML (see recipes/*/conf/).", dir_okay=False)],
    exp_dir: Annotated[Path, typer.Option("--exp-dir", help="Experiment directory (created; rerun resumes).")],
    fold: Annotated[Optional[list[str]], typer.Option("--fold", help="Train only these folds (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Start over, discarding checkpoints in EXP.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", help="Train this many folds at once, each in its own process "
                                      "(the CPU cores are shared out among them).")] = 1,
) -> None:
    """Train a model; extra arguments are dotted overrides, e.g. `optim.lr 3e-4 train.epochs 20`.

    Overrides beat the YAML, which beats the defaults; the resolved configuration is saved as
    EXP/config.yaml. Rerunning the same command resumes from EXP/fold-*/checkpoints/last.pt.
    A fold trained among --jobs N gets the same weights as alone.
    """
    from sertool.train.config import load_config, parse_overrides
    from sertool.train.runner import train_experiment

    cfg = load_config(config, parse_overrides(ctx.args))
    train_experiment(cfg, exp_dir, folds=fold or None, force=force, jobs=jobs)
