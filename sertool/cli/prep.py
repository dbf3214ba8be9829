"""``sertool prep <corpus> ...``: corpus → manifest.jsonl, folds.json, token inventories.

One sub-command per corpus; each wraps ``sertool.corpora.<corpus>.prepare_<corpus>`` and
shares the stage logic of :func:`run_prep` (``.done`` marker, ``--force``, summary table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Callable

import typer
from rich.table import Table

from sertool.cli.common import Force, Jobs, OutDir, Seed, command, console
from sertool.corpora.common import PrepReport
from sertool.stage import StageMarker

app = typer.Typer(help="Prepare a corpus: manifest, folds and token inventories.", no_args_is_help=True)

Protocol = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="Fold protocol: leave-one-session-out, leave-one-speaker-out, speaker-kfold, "
        "stratified-kfold (not speaker-independent) or corpus-split.",
    ),
]
NumFolds = Annotated[int, typer.Option("--folds", "-k", min=2, help="k for the k-fold protocols.")]


def print_report(report: PrepReport) -> None:
    """Print a prep summary: counts, skipped reasons, classes, speakers, folds and leakage."""
    console.print(f"[bold]{report.corpus}[/bold]: kept {report.kept} utterances → {report.out_dir}")
    for reason, n in sorted(report.skipped.items()):
        console.print(f"  skipped {n}: {reason}")
    if report.oov_words:
        console.print(f"  out-of-vocabulary words left out of phones: {report.oov_words} "
                      f"(e.g. {', '.join(report.oov_examples[:5])})")
    console.print("  classes: " + ", ".join(f"{k} {v}" for k, v in report.classes.items()))
    console.print(f"  speakers: {len(report.speakers)} "
                  f"({min(report.speakers.values())}–{max(report.speakers.values())} utterances each)")
    table = Table(title=f"folds ({report.protocol})")
    for col in ("fold", "train", "dev", "test", "speakers in train and test"):
        table.add_column(col)
    for f in report.folds:
        leak = ", ".join(f["leaking_speakers"][:3]) + (" …" if len(f["leaking_speakers"]) > 3 else "")
        table.add_row(f["name"], str(f["train"]), str(f["dev"]), str(f["test"]), leak or "none")
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def run_prep(out_dir: Path, settings: dict[str, Any], prepare: Callable[[], PrepReport], force: bool,
             inputs_fingerprint: str = "") -> PrepReport:
    """Run ``prepare`` unless ``out_dir`` already holds its output for the same settings."""
    marker = StageMarker(out_dir, {**settings, "fingerprint": inputs_fingerprint})
    if marker.is_done() and not force:
        console.print(f"prep: {out_dir} is up to date (use --force to redo)")
        return PrepReport.load(out_dir)
    marker.clear()
    report = prepare()
    marker.mark_done(kept=report.kept)
    print_report(report)
    return report


@app.command("synthetic")
@command
def synthetic(
    out_dir: OutDir,
    speakers: Annotated[int, typer.Option(help="Speakers (eSpeak NG voices m1–m8, f1–f5).", min=2, max=13)] = 8,
    per_class: Annotated[int, typer.Option(help="Utterances per emotion per speaker.", min=1)] = 30,
    languages: Annotated[str, typer.Option(help="Comma-separated: en, zh.")] = "en,zh",
    styles: Annotated[str, typer.Option(help="Comma-separated: studio, telephone.")] = "studio,telephone",
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 4,
    seed: Seed = 0,
    jobs: Jobs = 2,
    force: Force = False,
) -> None:
    """Synthesise an emotional speech corpus with eSpeak NG (no download needed)."""
    from sertool.corpora.synthetic import prepare_synthetic

    langs = tuple(x.strip() for x in languages.split(",") if x.strip())
    sty = tuple(x.strip() for x in styles.split(",") if x.strip())
    settings = dict(corpus="synthetic", speakers=speakers, per_class=per_class, languages=langs, styles=sty,
                    protocol=protocol, folds=folds, seed=seed)
    run_prep(
        out_dir, settings,
        lambda: prepare_synthetic(out_dir, speakers=speakers, per_class=per_class, languages=langs, styles=sty,
                                  protocol=protocol, k=folds, seed=seed, jobs=jobs),
        force,
    )
