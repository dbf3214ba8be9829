"""``sertool train --jobs N``: folds side by side, each as it trains alone; failures and kills stop all."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import sertool  # noqa: E402
from sertool.cli.main import app  # noqa: E402
from sertool.cli.testing import invoke  # noqa: E402
from sertool.stage import DONE_NAME  # noqa: E402
from sertool.testing.experiments import tiny_config, write_config  # noqa: E402
from sertool.testing.processes import alive, children, kill  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in [str(Path(sertool.__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")] if p)}


def losses(exp: Path, fold: str) -> list[dict[str, str]]:
    rows = list(csv.DictReader((exp / f"fold-{fold}" / "train_log.csv").open()))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_folds_trained_side_by_side_equal_folds_trained_one_by_one(corpus, tmp_path):
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus, train={"epochs": 2}))
    invoke("train", conf, "--exp-dir", tmp_path / "one", "--fold", "1", "--fold", "2")
    out = invoke("train", conf, "--exp-dir", tmp_path / "two", "--fold", "1", "--fold", "2", "--jobs", "2")
    assert "2 folds at a time" in " ".join(out.split())
    for fold in ("1", "2"):
        assert losses(tmp_path / "two", fold) == losses(tmp_path / "one", fold)
        one = torch.load(tmp_path / "one" / f"fold-{fold}" / "checkpoints" / "best.pt", weights_only=True)
        two = torch.load(tmp_path / "two" / f"fold-{fold}" / "checkpoints" / "best.pt", weights_only=True)
        for name, tensor in one["model"].items():
            assert torch.equal(tensor, two["model"][name]), name
    again = invoke("train", conf, "--exp-dir", tmp_path / "two", "--fold", "1", "--fold", "2", "--jobs", "2")
    assert "up to date" in again


def test_a_failing_fold_is_one_line_and_a_nonzero_exit(corpus, tmp_path):
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus, train={"epochs": 2}))
    exp = tmp_path / "exp"
    (exp / "fold-3").mkdir(parents=True)
    (exp / "fold-3" / "checkpoints").write_text("not a directory")  # fold 3 cannot save its checkpoints
    result = CliRunner().invoke(app, ["train", str(conf), "--exp-dir", str(exp), "--fold", "2", "--fold", "3",
                                      "--jobs", "2"])
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: fold 3: cannot write or read "), result.output
    assert "Traceback" not in result.output
    assert not (exp / DONE_NAME).exists()  # the experiment does not look finished


def test_jobs_below_one_are_refused(corpus, tmp_path):
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus))
    result = CliRunner().invoke(app, ["train", str(conf), "--exp-dir", str(tmp_path / "exp"), "--jobs", "0"])
    assert result.exit_code == 1 and "--jobs must be at least 1" in result.output


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="walks /proc for the worker processes")
def test_killing_train_stops_its_fold_processes(corpus, tmp_path):
    conf = write_config(tmp_path / "c.yaml", tiny_config(corpus, train={"epochs": 500}))
    exp = tmp_path / "exp"
    cmd = [sys.executable, "-m", "sertool", "train", str(conf), "--exp-dir", str(exp), "--jobs", "2"]
    with open(tmp_path / "train.log", "w") as log:
        parent = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV)
    try:
        deadline = time.time() + 120
        while len(list(exp.glob("fold-*/train_log.csv"))) < 2:  # both folds are past their first epoch
            assert parent.poll() is None, (tmp_path / "train.log").read_text()
            assert time.time() < deadline, "timed out"
            time.sleep(0.1)
        workers = children(parent.pid)  # the two folds' processes (and multiprocessing's helper)
    finally:
        kill(parent)  # SIGKILL: the parent cannot stop its workers itself
    assert len(workers) >= 2
    try:
        deadline = time.time() + 10
        while any(alive(*w) for w in workers) and time.time() < deadline:
            time.sleep(0.05)
        assert not [pid for pid, start in workers if alive(pid, start)], "fold processes outlived their parent"
    finally:
        for pid, start in workers:
            if alive(pid, start):
                os.kill(pid, 9)
