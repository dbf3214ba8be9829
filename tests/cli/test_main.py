"""The CLI lists its five stages; known errors are one line and a non-zero exit."""

from pathlib import Path

from typer.testing import CliRunner

from sertool.cli.main import app

runner = CliRunner()


def test_help_lists_the_stages():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for stage in ("prep", "features", "train", "eval", "infer"):
        assert stage in result.output


def test_missing_inputs_give_one_line_errors(tmp_path: Path):
    for args in (["train", str(tmp_path / "none.yaml"), "--exp-dir", str(tmp_path / "exp")],
                 ["eval", str(tmp_path / "exp")],
                 ["infer", str(tmp_path / "exp"), str(tmp_path / "x.wav")]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert result.output.startswith("error:") and result.output.count("\n") == 1, result.output
