"""``sertool scores EXP...``: several experiments' scores as one markdown table (for a RESULTS.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import command, console
from sertool.errors import SertoolError


@command
def scores(
    paths: Annotated[list[Path], typer.Argument(
        help="Experiment directories (their scores.json, from `sertool eval`), cross-corpus folders "
             "(EXP/cross/NAME) or score files; one table row each, in this order.")],
    metric: Annotated[str, typer.Option(
        "--metric", help="Comma-separated columns: ua, wa, uai, macro_f1, an auxiliary score (gender_acc, "
                         "intensity_ccc, …), pooled_ua, pooled_wa, corpus_avg_ua, corpus_avg_wa.")] = "ua,wa",
    names: Annotated[Optional[str], typer.Option(
        "--names", help="Comma-separated row names, one per path (default: the experiment directory's name).",
        show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the table to this file (default: print it).", dir_okay=False,
        show_default=False)] = None,
) -> None:
    """Print (or write) a markdown table: a row per experiment, mean ± std per metric, folds, protocol."""
    from sertool.evaluation.table import check_metrics, markdown_table, read_row

    row_names: list[Optional[str]] = [None] * len(paths)
    if names is not None:
        row_names = [n.strip() for n in names.split(",")]
        if len(row_names) != len(paths):
            raise SertoolError(f"--names gives {len(row_names)} name(s) for {len(paths)} score file(s)")
    metrics = [m.strip() for m in metric.split(",") if m.strip()]
    if not metrics:
        raise SertoolError("--metric: name at least one metric (e.g. ua,wa)")
    rows = [read_row(p, n) for p, n in zip(paths, row_names)]
    check_metrics(metrics, rows)
    table = markdown_table(rows, metrics)
    if out is None:
        typer.echo(table)
        return
    from sertool.stage import atomic_path

    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(table + "\n", encoding="utf-8")
    console.print(f"wrote {len(rows)} rows to {out}", markup=False, highlight=False)
