"""``sertool infer EXP_OR_MODEL INPUTS...``: one record per clip (JSON lines or CSV); ``--info``: the model card.

``--held-out N`` answers N clips of the test set of the fold the chosen model was trained on
(:func:`sertool.inference.sources.held_out_sources`), as naming those clips would.

Inputs are audio files, directories (searched recursively), ``@lists`` and ``.jsonl`` manifests
(:mod:`sertool.inference.sources`). Every clip gets a record, in input order: its answer, or
``{"file", "error"}``; the exit status is 1 when any clip failed, with the count on stderr.
Only what answering needs is imported, and only once the arguments are read: a one-clip run
costs little more than importing torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import command
from sertool.errors import SertoolError


@command
def infer(
    model: Annotated[Path, typer.Argument(help="Experiment directory or a checkpoint file (.pt).")],
    inputs: Annotated[Optional[list[str]], typer.Argument(
        help="Audio files (any rate, channels and format soundfile reads), directories (searched recursively), "
             "@LIST files (one path a line, relative to the list; @- reads standard input) and .jsonl manifests "
             "(their audio field).", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Write the records to this file: CSV if it ends in .csv, JSON lines otherwise "
                               "(default: JSON lines on stdout).", dir_okay=False)] = None,
    fold: Annotated[Optional[str], typer.Option(help="Fold whose model to use (default: best dev UA).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1,
                                            help="Windows per model batch (clips are grouped by length).")] = 16,
    jobs: Annotated[Optional[int], typer.Option(
        "--jobs", "-j", min=0, help="Processes decoding audio and computing features while the model runs "
                                    "(0: all in this process; default: up to 4, leaving a core for the model; "
                                    "none for a few clips).", show_default=False)] = None,
    threads: Annotated[Optional[int], typer.Option(
        min=1, help="Torch threads for the model (default: the cores the --jobs workers leave).",
        show_default=False)] = None,
    segment: Annotated[Optional[float], typer.Option(
        help="Answer each SECONDS-long window of a recording (one record per segment, then a summary).",
        metavar="SECONDS", show_default=False)] = None,
    hop: Annotated[Optional[float], typer.Option(
        help="Seconds between --segment windows (default: the segment length).", metavar="SECONDS",
        show_default=False)] = None,
    split_on_silence: Annotated[bool, typer.Option(
        "--split-on-silence",
        help="Answer each part of a recording between pauses (by energy), then a summary.")] = False,
    held_out: Annotated[Optional[int], typer.Option(
        "--held-out", help="Answer N clips of the test set of the fold the model was trained on (spread evenly "
                           "over the fold's test list, the first and last included), instead of INPUTS.",
        metavar="N", show_default=False)] = None,
    info: Annotated[bool, typer.Option(
        "--info", help="Print the model card (labels, heads, inputs, training data, protocol, scores, version) "
                       "and exit; with --output FILE.json, write it as JSON.")] = False,
) -> None:
    """Predict emotion (and intensity/gender where the model has those heads) for each clip.

    Clips longer than the model's training length are answered from windows covering all of
    them (the record says "windows": n); nothing is cut. A clip that is unreadable, empty,
    silent, holds NaN/Inf samples or is shorter than the model's shortest input gets an error
    record; the exit status is then 1, with "error: N of M clips failed" on stderr.
    """
    if info:
        if inputs:
            raise SertoolError("--info prints the model card; give no clips with it")
        _card(model, fold, device, output)
        return
    if held_out is not None:
        if inputs:
            raise SertoolError("--held-out picks the clips from the model's test fold; give no clips with it")
        if held_out < 1:
            raise SertoolError(f"--held-out needs at least 1 clip, got {held_out}")
    elif not inputs:
        raise SertoolError("give audio files, directories, @lists or .jsonl manifests to answer (or --info)")

    from sertool.console import console, progress
    from sertool.inference import Predictor
    from sertool.inference.sources import expand_inputs, held_out_sources

    def warn(message: str) -> None:
        console.print(f"warning: {message}", markup=False, highlight=False)

    if held_out is None:
        sources = expand_inputs(inputs, warn=warn)
        if not sources:
            raise SertoolError("no audio files found in " + ", ".join(inputs))

    from sertool.inference.output import CsvWriter, JsonLinesWriter, csv_columns, is_csv, open_output
    from sertool.inference.plan import Segmenting, plan_clip

    predictor = Predictor.load(model, fold=fold, device=device)
    if held_out is not None:
        sources = held_out_sources(predictor.cfg, predictor.bundle.fold, held_out)
    mode = Segmenting(segment, hop, split_on_silence)
    limits = predictor.limits
    mode.check(limits)
    description = "reading headers" + (" and finding pauses" if split_on_silence else "")
    plans = [plan_clip(i, s, limits, mode) for i, s in enumerate(progress(sources, description, total=len(sources)))]

    stream = open_output(output)
    try:
        if is_csv(output):
            writer = CsvWriter(stream, csv_columns(predictor.example_answer, mode.active, any(s.id for s in sources)))
        else:
            writer = JsonLinesWriter(stream)
        failed = records = 0
        results = predictor.run(plans, batch_size=batch_size, workers=jobs, threads=threads)
        for plan, recs in progress(results, "infer", total=len(plans)):
            for record in recs:
                writer.write(record)
            records += len(recs)
            if "error" in recs[-1]:
                failed += 1
            elif plan.warning:
                warn(f"{plan.path}: {plan.warning}")
            if output is None:
                stream.flush()
    finally:
        if stream is not None and output is not None and str(output) != "-":
            stream.close()
    if output is not None and str(output) != "-":
        console.print(f"wrote {records} records for {len(plans)} clips to {output}", markup=False, highlight=False)
    if failed:
        typer.echo(f"error: {failed} of {len(plans)} clips failed", err=True)
        raise typer.Exit(1)


def _card(model: Path, fold: str | None, device: str, output: Path | None) -> None:
    import json

    from sertool.inference import Predictor
    from sertool.inference.card import format_card, model_card

    card = model_card(Predictor.load(model, fold=fold, device=device))
    if output is not None and str(output) != "-":
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(card, indent=1, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
        return
    typer.echo(format_card(card))
