"""``sertool export EXP --format onnx``: a trained fold's model as an ONNX graph and its JSON sidecar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import command, console

INPUT_KINDS = {"auto": None, "audio": True, "features": False}


@command
def export(
    model: Annotated[Path, typer.Argument(help="Experiment directory or a checkpoint file (.pt).")],
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    fold: Annotated[Optional[str], typer.Option(help="Fold whose model to export (default: best dev UA).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", file_okay=False,
                                                   help="Output directory (default: EXP/fold-<name>/export).")] = None,
    input: Annotated[str, typer.Option("--input", help="What the graph reads: auto (audio where every input's "
                                       "features can be computed in the graph), audio or features.")] = "auto",
) -> None:
    """Write model.onnx (dynamic batch and time axes) and model.json (labels, inputs, normalisation, outputs).

    Needs onnx and onnxruntime, the optional packages of sertool's "export" extra.
    """
    from sertool.errors import SertoolError
    from sertool.export import export_experiment

    if input not in INPUT_KINDS:
        raise SertoolError(f"--input must be one of {', '.join(INPUT_KINDS)}, got {input!r}")
    result = export_experiment(model, fold=fold, output=output, format=format, from_audio=INPUT_KINDS[input])
    reads = (f"{result.sample_rate} Hz samples" if result.input_kind == "audio"
             else "feature matrices" + (f"; not from audio: {result.reason}" if result.reason else ""))
    console.print(f"export: {result.onnx_path} (reads {reads}; onnxruntime agrees with torch to "
                  f"{result.check_diff:.1g})")
    console.print(f"export: {result.sidecar_path}")
