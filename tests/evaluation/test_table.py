"""The markdown table of several experiments' scores (``sertool scores``), from score files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sertool.errors import SertoolError
from sertool.evaluation.table import check_metrics, markdown_table, read_row


def _write(path: Path, summary: dict) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "scores.json").write_text(json.dumps(summary))
    return path


def test_rows_keep_their_order_and_show_runs_aux_pooled_and_corpus_averages(tmp_path):
    runs = _write(tmp_path / "ssl_5x5", {
        "folds": {f"r{r}-{k}": {} for r in (1, 2) for k in (1, 2)}, "runs": {"r1": {}, "r2": {}}, "over": "runs",
        "mean": {"ua": 0.7, "intensity_ccc": 0.512}, "std": {"ua": 0.011, "intensity_ccc": 0.0204},
        "pooled": {"ua": 0.69}, "complete": True, "protocol": "stratified-kfold", "speaker_independent": False})
    mixed = _write(tmp_path / "selective", {
        "folds": {"1": {}}, "mean": {"ua": 0.6}, "std": {"ua": 0.0}, "corpora": {"average": {"ua": 0.55, "wa": 0.6}},
        "complete": True, "protocol": "leave-one-session-out", "speaker_independent": True})
    rows = [read_row(runs), read_row(mixed / "scores.json", name="sel|MTL")]
    metrics = ["ua", "intensity_ccc", "pooled_ua", "corpus_avg_ua"]
    check_metrics(metrics, rows)
    lines = markdown_table(rows, metrics).splitlines()
    assert lines[0] == ("| experiment | UA (%) | intensity_ccc | pooled UA (%) | corpus average UA (%) | folds | "
                        "protocol | speaker-independent |")
    assert lines[2] == "| ssl_5x5 | 70.00 ± 1.10 | 0.512 ± 0.020 | 69.00 | – | 4 (2 runs) | stratified-kfold | **no** |"
    assert lines[3] == "| sel\\|MTL | 60.00 ± 0.00 | – | – | 55.00 | 1 | leave-one-session-out | yes |"


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(SertoolError, match="no scores.json in .*: run `sertool eval"):
        read_row(tmp_path)
    with pytest.raises(SertoolError, match="scores not found"):
        read_row(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(SertoolError, match="is not a sertool score file"):
        read_row(tmp_path / "bad.json")
    row = read_row(_write(tmp_path / "a", {"folds": {}, "mean": {"ua": 0.5, "wa": 0.5}, "std": {}}))
    with pytest.raises(SertoolError, match=r"metric\(s\) au \(they have: .*ua, wa\)"):
        check_metrics(["au"], [row])
