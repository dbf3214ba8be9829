"""The recipes' shell layer: the shared options parser and each paper recipe's stand-in dry run.

Each paper recipe runs as a user runs it, ``bash recipes/<paper>/run.sh --stand-in true``, on a
copy of its directory (and of ``recipes/_shared``) in a temporary folder, with this interpreter
(``SERTOOL_PYTHON``) and this checkout (``PYTHONPATH``): miniature corpora in their real layout,
the real ``sertool prep``/``features``/``train``/``eval``/``scores`` commands, tiny settings.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"
# What a recipe writes; a copy never takes a real or an earlier stand-in run's outputs along.
OUTPUTS = shutil.ignore_patterns("stand_in", "data", "feats", "exp", "downloads")


def copy_recipe(name: str, dest: Path) -> Path:
    """``recipes/<name>`` and ``recipes/_shared`` copied under ``dest/recipes``; the copy's run.sh."""
    shutil.copytree(RECIPES / "_shared", dest / "recipes" / "_shared")
    shutil.copytree(RECIPES / name, dest / "recipes" / name, ignore=OUTPUTS)
    return dest / "recipes" / name / "run.sh"


def run_recipe(script: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """``bash SCRIPT ARGS…`` with this interpreter and this checkout; output captured."""
    env = dict(os.environ, SERTOOL_PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env,
                          cwd=script.parent.parent.parent, timeout=timeout)


# --- parse_options.sh -------------------------------------------------------------------------

OPTIONS_RECIPE = """#!/usr/bin/env bash
# A recipe for the tests.
# Usage: bash run.sh [--stage N]
set -euo pipefail
stage=1
stop_stage=5
corpus_dir=
experiments="1 2"
stand_in=false
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
echo "stage=$stage stop_stage=$stop_stage corpus_dir=$corpus_dir stand_in=$stand_in experiments=$experiments"
"""


@pytest.fixture()
def options_recipe(tmp_path: Path) -> Path:
    shutil.copytree(RECIPES / "_shared", tmp_path / "recipes" / "_shared")
    script = tmp_path / "recipes" / "x" / "run.sh"
    script.parent.mkdir(parents=True)
    script.write_text(OPTIONS_RECIPE, encoding="utf-8")
    return script


def test_options_set_variables_with_dashed_names(options_recipe: Path) -> None:
    r = run_recipe(options_recipe, "--stage", "3", "--stop-stage=4", "--corpus-dir", "/a b", "--stand-in", "true",
                   "--experiments", "2")  # a name holding an x: not taken for an exported variable
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "stage=3 stop_stage=4 corpus_dir=/a b stand_in=true experiments=2"


@pytest.mark.parametrize("args", [["--stand-in"], ["--stand-in", "--stage", "1"]])
def test_a_true_false_option_alone_means_true(options_recipe: Path, args: list[str]) -> None:
    r = run_recipe(options_recipe, *args)  # `run.sh --stand-in`, as `run.sh --stand-in true`
    assert r.returncode == 0, r.stderr
    assert "stand_in=true" in r.stdout


def test_options_keep_defaults(options_recipe: Path) -> None:
    r = run_recipe(options_recipe)
    assert r.stdout.strip() == "stage=1 stop_stage=5 corpus_dir= stand_in=false experiments=1 2"


@pytest.mark.parametrize("args, message", [
    (["--stgae", "3"], "unknown option --stgae"),
    (["--PATH", "/x"], "unknown option --PATH"),          # an environment variable is not an option
    (["--here", "/x"], "unknown option --here"),          # nor is the recipe's own location
    (["--stage"], "option --stage needs a value"),
    (["--stand-in", "yes"], "option --stand-in takes true or false, got 'yes'"),
    (["extra"], "unexpected argument 'extra'"),
])
def test_bad_options_exit_2_with_one_line(options_recipe: Path, args: list[str], message: str) -> None:
    r = run_recipe(options_recipe, *args)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr


def test_help_prints_the_header_and_the_options(options_recipe: Path) -> None:
    r = run_recipe(options_recipe, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("A recipe for the tests.\nUsage: bash run.sh [--stage N]\n")
    assert "  --stop-stage 5\n" in r.stdout and "  --stand-in false\n" in r.stdout


@pytest.mark.parametrize("recipe, args, option", [
    ("sa_cnn_blstm", [], "--corpus-dir"),
    ("selective_mtl", ["--corpus-dir", "/x"], "--spon-dir"),
    ("speecheq", ["--experiments", "2", "--iemocap-dir", "/x"], "--ravdess-dir"),
])
def test_real_run_without_corpus_says_which_option(tmp_path: Path, recipe: str, args: list[str], option: str) -> None:
    r = run_recipe(copy_recipe(recipe, tmp_path), *args, "--stop-stage", "1")
    assert r.returncode == 2 and option in r.stderr, r.stderr


# --- stand-in dry runs ---------------------------------------------------------------------------

def run_stand_in(recipe: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """``run.sh --stand-in --jobs 2`` on a copy of ``recipe``, which must succeed; (the run, the copy's directory)."""
    script = copy_recipe(recipe, tmp_path)
    r = run_recipe(script, "--stand-in", "--jobs", "2")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r, script.parent


def infer_answers(r: subprocess.CompletedProcess) -> list[dict]:
    """The JSON objects ``sertool infer`` printed during a recipe run."""
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def scores(recipe_dir: Path, tag: str) -> dict:
    path = recipe_dir / "stand_in" / "exp" / tag / "scores.json"
    assert path.is_file(), f"no {path}"
    return json.loads(path.read_text(encoding="utf-8"))


def test_sa_cnn_blstm_stand_in(tmp_path: Path) -> None:
    _, here = run_stand_in("sa_cnn_blstm", tmp_path)
    full = scores(here, "full")
    assert full["protocol"] == "leave-one-session-out" and len(full["folds"]) == 5
    assert "gender_acc" in full["mean"] and "gender_acc" not in scores(here, "no_mtl")["mean"]
    assert full["pooled"]["n"] == sum(f["n"] for f in full["folds"].values())  # Table 3: all folds pooled
    table = (here / "stand_in" / "exp" / "table2.md").read_text(encoding="utf-8")
    assert "| Full model |" in table and "| − Multitask learning |" in table
    assert not (here / "exp").exists() and not (here / "data").exists()  # nothing outside stand_in/


def test_selective_mtl_stand_in(tmp_path: Path) -> None:
    _, here = run_stand_in("selective_mtl", tmp_path)
    for conf in sorted((here / "conf").glob("*.yaml")):
        s = scores(here, conf.stem)
        assert list(s["folds"]) == ["Ses01" if conf.stem == "act" else "1"] and s["complete"] is False  # tiny
        if conf.stem not in ("act", "spon"):  # both corpora tested: each one's scores and their average
            assert set(s["corpora"]["per_corpus"]) == {"iemocap", "spon"}
            assert s["speaker_independent"] is False  # SPON's random folds
    table = (here / "stand_in" / "exp" / "table3.md").read_text(encoding="utf-8")
    assert "| Selective MTL (half) |" in table


def test_speecheq_stand_in(tmp_path: Path) -> None:
    _, here = run_stand_in("speecheq", tmp_path)
    for conf in sorted((here / "conf").glob("exp*.yaml")):
        s = scores(here, conf.stem)
        assert len(s["folds"]) == 1 and "intensity_mse" in s["mean"], conf.stem  # tiny: the first fold
        assert ("gender_acc" in s["mean"]) == ("wo_mtl" not in conf.stem), conf.stem
    assert scores(here, "exp1_speecheq_casia")["protocol"] == "casia-10fold"
    assert scores(here, "exp2_speecheq")["protocol"] == "stratified-kfold"
    for table in ("table3_casia", "table3_esd", "table3_seqd", "table4"):
        assert (here / "stand_in" / "exp" / f"{table}.md").is_file()


def test_ssl_mtl_stand_in(tmp_path: Path) -> None:
    r, here = run_stand_in("ssl_mtl", tmp_path)
    s = scores(here, "ssl_mtl")
    assert s["protocol"] == "stratified-kfold" and len(s["folds"]) == 5
    answers = infer_answers(r)  # stage 4: infer
    assert len(answers) == 1 and answers[0]["emotion"] in ("neutral", "happy", "angry", "sad")
    assert "/stand_in/corpora/IEMOCAP_full_release/" in answers[0]["file"]


def test_decomposed_stand_in(tmp_path: Path) -> None:
    """Pre-training, fine-tuning from it (init_from, fold by fold), eval and infer."""
    r, here = run_stand_in("decomposed", tmp_path)
    s = scores(here, "finetune")
    assert s["protocol"] == "leave-one-session-out" and len(s["folds"]) == 5
    assert {"recon_mse", "chars_wer"} <= set(s["mean"])  # reconstruction and CTC heads scored
    assert (r.stdout + r.stderr).count("tensors initialised from") == 5  # every fold from its pre-trained fold
    answers = infer_answers(r)  # stage 6: infer
    assert len(answers) == 1 and answers[0]["emotion"] in ("neutral", "happy", "angry", "sad")
