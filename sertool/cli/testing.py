"""Running the ``sertool`` command line in-process, as a user would type it (for tests and examples).

It lives in the CLI package, the one layer allowed to import the CLI.

Example:
    >>> result = run_cli("--help")
    >>> result.exit_code, "Usage" in result.output
    (0, True)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CliResult:
    """Exit code, output with whitespace collapsed (rich wraps at the terminal width), raw output."""

    exit_code: int
    output: str
    raw: str


def run_cli(*args: object) -> CliResult:
    """Run ``sertool ARGS...`` in-process (arguments are turned into strings); exceptions propagate."""
    from typer.testing import CliRunner

    from sertool.cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return CliResult(result.exit_code, " ".join(result.output.split()), result.output)


def invoke(*args: object) -> str:
    """Run ``sertool ARGS...`` in-process and return its output; an AssertionError with the output if it fails."""
    result = run_cli(*args)
    assert result.exit_code == 0, result.raw
    return result.raw
