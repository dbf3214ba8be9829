"""A tiny run of every stage through the CLI: prep → features → train → eval → infer.

This is the synthetic recipe in miniature (4 speakers, a few utterances, a narrow model,
two epochs): it checks that the stages fit together, not that the model learns.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml
from typer.testing import CliRunner

from sertool.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("e2e")
    data, feats, exp = root / "data", root / "feats", root / "exp"
    invoke("prep", "synthetic", data, "--speakers", 4, "--per-class", 3, "--languages", "en", "--folds", 2)
    invoke("features", data / "manifest.jsonl", feats, "--extractor", "logmel", "--jobs", 1)
    conf = yaml.safe_load(Path("recipes/synthetic/conf/sa_cnn_blstm.yaml").read_text())
    conf["data"].update(manifests=[str(data / "manifest.jsonl")], folds=str(data / "folds.json"), features=str(feats))
    (root / "conf.yaml").write_text(yaml.safe_dump(conf))
    invoke("train", root / "conf.yaml", "--exp-dir", exp, "train.epochs", 2, "train.batch_size", 8,
           "model.encoder_conf.lstm_units", 8, "model.encoder_conf.attn_dim", 16, "model.encoder_conf.cnn_channels", 8)
    return {"root": root, "data": data, "exp": exp}


def test_train_writes_the_experiment_layout(experiment):
    exp = experiment["exp"]
    folds = json.loads((experiment["data"] / "folds.json").read_text())["folds"]
    assert (exp / "config.yaml").is_file()
    for f in folds:
        d = exp / f"fold-{f['name']}"
        assert (d / "checkpoints" / "last.pt").is_file() and (d / "checkpoints" / "best.pt").is_file()
        rows = (d / "train_log.csv").read_text().strip().splitlines()
        assert len(rows) == 3 and "loss_emotion" in rows[0] and "loss_gender" in rows[0]


def test_rerun_is_skipped(experiment):
    conf = experiment["root"] / "conf.yaml"
    result = invoke("train", conf, "--exp-dir", experiment["exp"], "train.epochs", 2, "train.batch_size", 8,
                    "model.encoder_conf.lstm_units", 8, "model.encoder_conf.attn_dim", 16,
                    "model.encoder_conf.cnn_channels", 8)
    assert "up to date" in result.output


def test_eval_writes_scores_per_fold_and_mean_std(experiment):
    result = invoke("eval", experiment["exp"])
    assert "mean ± std" in result.output
    summary = json.loads((experiment["exp"] / "scores.json").read_text())
    assert set(summary["mean"]) >= {"wa", "ua"} and set(summary["std"]) >= {"wa", "ua"}
    for name, _s in summary["folds"].items():
        fold_dir = experiment["exp"] / f"fold-{name}"
        assert (fold_dir / "confusion.png").stat().st_size > 0
        scores = json.loads((fold_dir / "scores.json").read_text())
        assert 0 <= scores["wa"] <= 1 and 0 <= scores["ua"] <= 1
        assert np.array(scores["confusion"]).sum() == scores["n"] > 0


def test_infer_on_a_44k_stereo_clip(experiment, tmp_path: Path):
    src = sorted((experiment["data"] / "audio").rglob("*.wav"))[0]
    wave, sr = sf.read(src)
    stereo = np.stack([soxr.resample(wave, sr, 44100)] * 2, axis=1) * [1.0, 0.5]
    sf.write(tmp_path / "clip.wav", stereo, 44100)
    result = invoke("infer", experiment["exp"], tmp_path / "clip.wav")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["emotion"] in answer["probabilities"]
    assert set(answer["probabilities"]) == {"neutral", "happy", "angry", "sad"}
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
    assert answer["gender"] in ("F", "M")


@pytest.mark.parametrize("content", [None, b"", b"not audio at all"])
def test_infer_refuses_missing_empty_and_unreadable_files(experiment, tmp_path: Path, content):
    clip = tmp_path / "bad.wav"
    if content is not None:
        clip.write_bytes(content)
    result = runner.invoke(app, ["infer", str(experiment["exp"]), str(clip)])
    assert result.exit_code == 1
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]  # an error record, not silence
    assert record["file"] == str(clip) and record["error"] and set(record) == {"file", "error"}
    assert result.stderr.strip() == "error: 1 of 1 clips failed"
