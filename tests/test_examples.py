"""The scripts under examples/ run in order on one directory and print what they promise.

Each example's ``main(work)`` is called in-process (the scripts import one another as siblings,
as they do when run as ``python examples/NAME.py``); the last one also runs as a script, which
then finds everything made and only predicts.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def examples(monkeypatch):
    """Import an example by name, with examples/ on sys.path as when a script runs."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    return importlib.import_module


def test_examples_in_order(examples, tmp_path, capsys):
    # 1. corpus and features
    prepared = examples("prepare_and_extract").main(tmp_path)
    out = capsys.readouterr().out
    assert prepared["utterances"] == 32  # 4 speakers × 4 emotions × 2
    assert prepared["folds"] == ["1", "2", "3", "4"]
    assert prepared["shape"][1] == 384 and prepared["shape"][0] > 0
    assert "32 utterances" in out and "fold 1: train 16, dev 8, test 8" in out
    assert f"features {tuple(prepared['shape'])}" in out

    # 2. one fold trained and scored
    scores = examples("train_one_fold").main(tmp_path)
    out = capsys.readouterr().out
    assert scores["fold"] == "1" and scores["n"] == 8
    assert 0.0 <= scores["ua"] <= 1.0 and "gender_acc" in scores["aux"]
    assert (scores["exp"] / "fold-1" / "checkpoints" / "best.pt").is_file()
    assert not (scores["exp"] / "fold-2").exists()  # only the fold asked for
    assert f"UA {100 * scores['ua']:.1f} %" in out

    # 3. predictions from the bundle
    answers = examples("predict_with_bundle").main(tmp_path)
    out = capsys.readouterr().out
    assert answers["fold"] == "1" and answers["inputs"] == ["feats"]
    for answer in (answers["file"], answers["wave"]):
        assert answer["emotion"] in answer["probabilities"]
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
        assert answer["gender"] in ("F", "M")
        assert sum(answer["gender_probabilities"].values()) == pytest.approx(1.0)
    assert answers["by_hand"]["emotion_probabilities"] == pytest.approx(answers["file"]["probabilities"], abs=1e-6)
    printed = json.loads(next(line for line in out.splitlines() if line.startswith("predict_file:"))
                         .removeprefix("predict_file:"))
    assert printed == answers["file"]

    # The same, as a script: everything is there, so it only loads the bundle and predicts.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(EXAMPLES.parent),
                                                                    os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(EXAMPLES / "predict_with_bundle.py"), "--work", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "predict_file:" in run.stdout and "predict_wave:" in run.stdout
