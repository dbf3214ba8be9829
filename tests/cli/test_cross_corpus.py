"""``sertool eval EXP --test MANIFEST``: a two-fold synthetic model scored on a second synthetic corpus.

Corpus A trains the model (2 speakers, emo4, two hand-made folds); corpus B (3 other speakers, its
own ids) holds the four emotions, a ``surprise`` outside emo4 and an utterance with no label.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from sertool.cli.testing import invoke, run_cli
from sertool.data.folds import Fold, write_folds
from sertool.data.manifest import read_manifest, write_manifest
from sertool.testing.audio import make_corpus
from sertool.testing.experiments import tiny_config, write_config
from sertool.testing.inference import TINY_ENCODER

EMOTIONS = ["neutral", "happy", "angry", "sad"]


def _labelled(manifest: Path, emotions: list[str | None], corpus: str | None = None) -> Path:
    """Give the manifest's utterances ``emotions`` in turn (and another corpus name, ids and speakers)."""
    utts = read_manifest(manifest)
    out = []
    for i, u in enumerate(utts):
        u = dataclasses.replace(u, emotion=emotions[i % len(emotions)])
        if corpus:
            u = dataclasses.replace(u, id=u.id.replace("synthetic/", f"{corpus}/"), corpus=corpus,
                                    speaker=u.speaker.replace("synthetic/", f"{corpus}/"))
        out.append(u)
    write_manifest(manifest, out)
    return manifest


@pytest.fixture(scope="module")
def crossed(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cross")
    a = _labelled(make_corpus(root / "a", num_utts=8, speakers=2), EMOTIONS)
    ids = [u.id for u in read_manifest(a)]
    write_folds(root / "a" / "folds.json", "custom", [Fold("1", ids[:5], ids[5:6], ids[6:]),
                                                      Fold("2", ids[3:], ids[2:3], ids[:2])])
    b = _labelled(make_corpus(root / "b", num_utts=11, speakers=3, seed=1),
                  [*EMOTIONS, "surprise", *EMOTIONS, "surprise", None], corpus="other")
    invoke("features", a, root / "feats_a", "--extractor", "logmel", "--jobs", 1)
    invoke("features", b, root / "feats_b", "--extractor", "logmel", "--jobs", 1)
    invoke("features", b, root / "fbank_b", "--extractor", "fbank", "--jobs", 1)
    conf = write_config(root / "conf.yaml", tiny_config(
        {"en": root / "a", "logmel": root / "feats_a"},
        model={"encoder": "sa_cnn_blstm", "encoder_conf": TINY_ENCODER},
        data={"max_seconds": 1.0}, train={"batch_size": 4}))
    invoke("train", conf, "--exp-dir", root / "exp")
    invoke("eval", root / "exp")
    return {"root": root, "exp": root / "exp", "b": b}


def test_cross_corpus_scores_every_fold_on_the_other_corpus_and_counts_the_skipped(crossed):
    before = (crossed["exp"] / "scores.json").read_text()
    out = invoke("eval", crossed["exp"], "--test", crossed["b"], "--features", crossed["root"] / "feats_b")
    flat = " ".join(out.split())
    assert "cross-corpus evaluation on other" in flat and "WA" in flat and "UA" in flat and "UAi" in flat
    assert "other: scored 8 of 11 utterances; skipped 3 (labels outside emo4: surprise 2; no label: 1)" in flat
    summary = json.loads((crossed["exp"] / "cross" / "other" / "scores.json").read_text())
    assert list(summary["folds"]) == ["1", "2"] and summary["complete"] is True
    assert all(s["n"] == 8 and s["support"] == dict.fromkeys(EMOTIONS, 2) for s in summary["folds"].values())
    assert summary["pooled"]["n"] == 16 and summary["skipped_labels"] == {"surprise": 2, "(none)": 1}
    assert summary["speaker_independent"] is True and summary["label_set"] == "emo4"
    assert summary["mean"]["ua"] == pytest.approx((summary["folds"]["1"]["ua"] + summary["folds"]["2"]["ua"]) / 2)
    assert "gender_acc" in summary["mean"]  # the gender head, scored on B's gender labels
    assert (crossed["exp"] / "cross" / "other" / "confusion.png").is_file()
    assert (crossed["exp"] / "scores.json").read_text() == before  # the in-corpus scores are untouched


def test_cross_corpus_normalises_with_the_training_statistics(crossed):
    """B's features are normalised with the bundle's training statistics, not B's own; scores repeat."""
    from sertool.train.bundle import Bundle
    from sertool.train.cross import score_cross_corpus

    summary = score_cross_corpus(crossed["exp"], crossed["b"], features=[str(crossed["root"] / "feats_b")],
                                 name="again")
    bundle = Bundle.load(crossed["exp"] / "fold-1" / "checkpoints" / "best.pt")
    assert bundle.specs["feats"].normaliser(str(crossed["root"] / "feats_b")) is \
        bundle.specs["feats"].normaliser(bundle.specs["feats"].primary)  # B's directory: the training pool
    assert summary["folds"]["1"]["confusion"] == json.loads(
        (crossed["exp"] / "cross" / "other" / "scores.json").read_text())["folds"]["1"]["confusion"]
    assert (crossed["exp"] / "cross" / "again" / "scores.json").is_file()


def test_cross_corpus_refusals_are_one_line(crossed):
    exp, b, root = crossed["exp"], crossed["b"], crossed["root"]
    for args, message in [
        ([], "the model reads logmel features (input 'feats'): extract them from the test manifest"),
        (["--features", root / "fbank_b"], "holds fbank features, but the model was trained on logmel"),
        (["--features", root / "none"], "not a feature directory"),
        (["--features", root / "feats_b", "--label-set", "casia6"], "class(es) the model does not predict: fear"),
        (["--features", root / "feats_b", "--split", "dev"], "--test scores all of MANIFEST"),
        (["--features", root / "feats_b", "--name", "../up"], "--name '../up'"),
    ]:
        result = run_cli("eval", exp, "--test", b, *args)
        assert result.exit_code == 1 and result.output.startswith("error:"), (args, result.raw)
        assert message in result.output and result.raw.count("\n") == 1, (args, result.raw)
    result = run_cli("eval", exp, "--features", root / "feats_b")
    assert result.exit_code == 1 and "go with --test MANIFEST" in result.output


def test_scores_gathers_experiments_and_cross_corpus_rows_into_one_markdown_table(crossed, tmp_path):
    invoke("eval", crossed["exp"], "--test", crossed["b"], "--features", crossed["root"] / "feats_b")
    one = json.loads((crossed["exp"] / "scores.json").read_text())
    out = invoke("scores", crossed["exp"], crossed["exp"] / "cross" / "other", "--metric", "ua,wa,uai",
                 "--names", "A (2 folds),A → B", "--out", tmp_path / "table.md")
    assert f"wrote 2 rows to {tmp_path / 'table.md'}" in " ".join(out.split())
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert lines[0] == "| experiment | UA (%) | WA (%) | UAi (%) | folds | protocol | speaker-independent |"
    ua = f"{100 * one['mean']['ua']:.2f} ± {100 * one['std']['ua']:.2f}"
    assert lines[2].startswith(f"| A (2 folds) | {ua} | ") and lines[2].endswith("| 2 | custom | **no** |")
    assert lines[3].startswith("| A → B | ") and lines[3].endswith(
        "| 2 | cross-corpus: other (8 of 11 utterances scored, emo4) | yes |")
    printed = invoke("scores", crossed["exp"], crossed["exp"] / "cross" / "other" / "scores.json")
    assert f"| {crossed['exp'].name} → other |" in printed and printed.count("\n| ") == 3
    result = run_cli("scores", crossed["exp"], "--names", "a,b")
    assert result.exit_code == 1 and "--names gives 2 name(s) for 1 score file(s)" in result.output
