"""The ``sertool`` command: one sub-command per stage, each a thin wrapper over library code.

Known errors (:class:`~sertool.errors.SertoolError`) print as one line and exit 1; set
``SERTOOL_DEBUG=1`` for the traceback (see :func:`sertool.cli.common.command`).
"""

from __future__ import annotations

import typer

from sertool import __version__
from sertool.cli import eval as eval_cmd
from sertool.cli import export, features, infer, prep, scores, standin, train

app = typer.Typer(
    name="sertool",
    help="Multi-task speech emotion recognition: prep → features → train → eval → infer.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(prep.app, name="prep")
app.command("features")(features.features)
app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(train.train)
app.command("eval")(eval_cmd.evaluate)
app.command("infer")(infer.infer)
app.command("export")(export.export)
app.command("stand-in")(standin.stand_in)
app.command("scores")(scores.scores)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sertool {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Multi-task speech emotion recognition: prep → features → train → eval → infer."""


def main() -> None:
    """Console-script entry point."""
    app()
