"""A run killed with SIGKILL and rerun with the same command reaches the weights of an
uninterrupted run; ``torchrun`` with two CPU processes trains and evaluates."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sertool.cli.testing import invoke  # noqa: E402
from sertool.testing.experiments import tiny_config, write_config  # noqa: E402
from sertool.train.checkpoint import load_checkpoint  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def resumable_config(corpus: dict[str, Path], tmp_path: Path) -> Path:
    """Dropout, a learned weighting, an LR schedule and clipping: every state a resume must restore."""
    return write_config(tmp_path / "conf.yaml", tiny_config(
        corpus,
        weighting={"name": "uncertainty"},
        optim={"name": "adamw", "lr": 3e-3, "weight_decay": 0.01, "grad_clip_norm": 5.0,
               "scheduler": {"name": "inverse_time", "decay": 0.01}},
        train={"epochs": 2, "batch_size": 2, "checkpoint_every_steps": 1},
    ))


def train_command(conf: Path, exp: Path) -> list[str]:
    return [sys.executable, "-m", "sertool", "train", str(conf), "--exp-dir", str(exp), "--fold", "1"]


def test_killed_run_resumes_to_the_same_weights(corpus, tmp_path):
    conf = resumable_config(corpus, tmp_path)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(train_command(conf, straight), check=True, env=ENV, capture_output=True)

    proc = subprocess.Popen(train_command(conf, killed), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "fold-1" / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not last.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    at_kill = load_checkpoint(last)
    assert at_kill["step"] > 0 and at_kill["epoch"] == 0, "the kill should land mid-epoch"

    rerun = subprocess.run(train_command(conf, killed), check=True, env=ENV, capture_output=True, text=True)
    assert "resuming after epoch 0, update" in rerun.stderr + rerun.stdout
    a = load_checkpoint(straight / "fold-1" / "checkpoints" / "last.pt")
    b = load_checkpoint(last)
    assert a["epoch"] == b["epoch"] == 2
    for k, v in a["model"].items():
        assert torch.allclose(v.float(), b["model"][k].float(), atol=1e-5, rtol=1e-4), k
    assert torch.allclose(a["weighting"]["log_vars"], b["weighting"]["log_vars"], atol=1e-5)
    assert [r["loss"] for r in a["history"]] == pytest.approx([r["loss"] for r in b["history"]], rel=1e-4)


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_torchrun_two_cpu_processes_train_and_evaluate(corpus, tmp_path):
    conf = write_config(tmp_path / "conf.yaml", tiny_config(
        corpus,
        data={"manifests": [str(corpus["en"] / "manifest.jsonl"),
                            {"path": str(corpus["zh"] / "manifest.jsonl"), "tasks": ["gender"]}]},
        weighting={"name": "uncertainty"},
        train={"epochs": 2, "batch_size": 6, "device": "cpu"}))
    exp = tmp_path / "exp"
    torchrun = str(Path(sys.executable).parent / "torchrun")
    run = subprocess.run([torchrun, "--standalone", "--nproc_per_node", "2", "-m", "sertool", "train", str(conf),
                          "--exp-dir", str(exp), "--fold", "1"], env=ENV, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    out = " ".join((run.stdout + run.stderr).split())  # rich wraps lines at the terminal width
    assert "2 processes" in out and out.count("epoch 2/2") == 1  # rank 0 alone reports
    ckpt = load_checkpoint(exp / "fold-1" / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 2 and ckpt["world_size"] == 2 and len(ckpt["per_rank"]) == 2
    assert (exp / "fold-1" / "checkpoints" / "best.pt").is_file() and (exp / ".done").is_file()
    invoke("eval", exp, "--partial")  # the one fold trained
    scores = json.loads((exp / "fold-1" / "scores.json").read_text())
    assert 0 <= scores["ua"] <= 1 and "gender_acc" in scores["aux"]
