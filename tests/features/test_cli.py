"""``sertool features`` through the Typer app: success, skip, and one-line errors."""

from __future__ import annotations

from typer.testing import CliRunner

from sertool.cli.main import app
from sertool.features.storage import FeatureReader
from sertool.testing.audio import make_corpus

runner = CliRunner()


def test_cli_extracts_then_skips(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=3, speakers=1)
    out = tmp_path / "feats"
    result = runner.invoke(app, ["features", str(manifest), str(out), "--extractor", "logmel", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    assert "written" in result.output and "real time" in result.output
    assert FeatureReader(out).dims == 384
    again = runner.invoke(app, ["features", str(manifest), str(out), "-e", "logmel"])
    assert again.exit_code == 0 and "up to date" in again.output


def test_cli_errors_are_one_line(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=1, speakers=1)
    conf = tmp_path / "conf.yaml"
    conf.write_text("augment: {copiez: 2}\n")
    cases = [
        (["features", str(manifest), str(tmp_path / "f"), "-e", "mfcc"], "unknown extractor 'mfcc'"),
        (["features", str(manifest), str(tmp_path / "f"), "--config", str(conf)], "unknown augment setting 'copiez'"),
        (["features", str(tmp_path / "f")], "give at least one manifest"),
        (["features", str(tmp_path / "missing.jsonl"), str(tmp_path / "f")], "manifest not found"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert result.output.strip().splitlines()[-1].startswith("error: ") and message in result.output
