"""Train a tiny multi-task model on one fold and evaluate it on that fold's held-out speaker.

What ``sertool train CONF.yaml --exp-dir EXP --fold 1`` and ``sertool eval EXP`` do, from Python:

1. :func:`sertool.train.config.build_config` turns a plain dict (the same keys as a YAML file such
   as ``recipes/synthetic/conf/sa_cnn_blstm.yaml``) into a checked :class:`ExperimentConfig`.
2. :func:`sertool.train.runner.train_experiment` trains the self-attentional CNN-BLSTM with two
   tasks, emotion (the main one) and gender, and keeps the epoch with the best dev UA as
   ``EXP/fold-1/checkpoints/best.pt``: a self-contained model bundle.
3. :func:`sertool.train.runner.evaluate_experiment` scores that bundle on the test speaker:
   WA (accuracy), UA (mean per-class recall, the usual SER figure) and the confusion matrix.

The model is narrow and trains for one epoch, so the UA is near chance (25 % for 4 classes):
this shows the calls, not a result. The recipe's figures are in recipes/synthetic/RESULTS.md.

Run::

    python examples/train_one_fold.py --work /tmp/sertool-example

``--work`` is the directory of ``prepare_and_extract.py``; its corpus and features are made
first when they are not there yet (so this script also runs on its own).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from prepare_and_extract import main as prepare_and_extract  # the first example, beside this file

from sertool.models import encoder_class
from sertool.train.config import ExperimentConfig, build_config
from sertool.train.runner import evaluate_experiment, train_experiment

FOLD = "1"  # fold names come from folds.json: "1" … "4" for speaker-kfold with k = 4


def tiny_config(manifest: Path, folds: Path, feats: Path, epochs: int = 1) -> ExperimentConfig:
    """The recipe's configuration, made tiny: few channels and units, one short epoch."""
    return build_config({
        "data": {
            "manifests": [str(manifest)],
            "folds": str(folds),
            # The encoder declares the inputs it reads by name: sa_cnn_blstm reads one, "feats".
            # With one input, "features: DIR" says where it comes from; the general form, for
            # encoders with several inputs, is
            #   inputs: {feats: {features: DIR, cmvn: train, transform: null}}
            "features": str(feats),
            "max_seconds": 7.5,  # longer clips are cropped
            "cmvn": "train",  # normalise with the fold's training speakers' statistics only
        },
        "model": {
            "encoder": "sa_cnn_blstm",
            # input_dim must match the features: 128 mels × (static, Δ, ΔΔ) = 384.
            "encoder_conf": {"input_dim": 384, "cnn_channels": 8, "lstm_units": 8, "attn_dim": 16,
                             "attn_heads": 2, "dropout": 0.5},
        },
        # Each task owns its head, loss and metrics; the total loss is the weighted sum.
        "tasks": {
            "emotion": {"type": "emotion", "label_set": "emo4", "weight": 1.0},  # neutral happy angry sad
            "gender": {"type": "gender", "weight": 1.0},
        },
        "optim": {"name": "adam", "lr": 3e-3},
        "train": {
            "epochs": epochs, "batch_size": 8, "seed": 0,
            "main_task": "emotion",  # the best epoch is the one with the best dev UA of this task
            "device": "cpu",  # a model this small is quickest on the CPU
            "threads": 1,
            "tensorboard": False,  # train_log.csv is still written
        },
    })


def main(work: Path, epochs: int = 1) -> dict:
    """Train fold 1 into ``work/exp/tiny`` (after the first example, if needed); return the fold's scores."""
    work = Path(work)
    data = work / "data" / "synthetic"
    feats = work / "feats" / "logmel"
    if not (feats / ".done").is_file():
        prepare_and_extract(work)

    cfg = tiny_config(data / "manifest.jsonl", data / "folds.json", feats, epochs)
    print(f"encoder {cfg.model.encoder} reads {encoder_class(cfg.model.encoder).inputs}; "
          f"tasks: {', '.join(cfg.tasks)}")

    exp = work / "exp" / "tiny"
    # Writes exp/config.yaml and exp/fold-1/ (checkpoints/last.pt, checkpoints/best.pt, train_log.csv).
    # A rerun with the same settings is skipped; an interrupted one resumes from last.pt.
    train_experiment(cfg, exp, folds=[FOLD])

    # Scores every trained fold on its test set; writes fold-*/scores.json, confusion.png and
    # exp/scores.json with the mean ± std over folds. One fold of four was trained, so the
    # experiment is incomplete: partial=True scores it anyway and marks it "complete": false.
    summary = evaluate_experiment(exp, partial=True)
    scores = summary["folds"][FOLD]
    print(f"fold {FOLD} (best epoch {scores['epoch']}), {scores['n']} test utterances: "
          f"WA {100 * scores['wa']:.1f} %, UA {100 * scores['ua']:.1f} %")
    print("  recall per class: " + ", ".join(f"{k} {100 * v:.0f} %" for k, v in scores["per_class"].items()))
    # The other tasks' scores on the same test set (here gender_acc, the gender accuracy).
    print("  other tasks: " + ", ".join(f"{k} {100 * v:.1f} %" for k, v in scores["aux"].items()))
    print(f"  confusion (rows: true {', '.join(scores['labels'])}): {scores['confusion']}")
    return {"exp": exp, **scores}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None,
                        help="directory of prepare_and_extract.py (default: a new temporary one, prepared first)")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default: 1)")
    args = parser.parse_args()
    main(args.work or Path(tempfile.mkdtemp(prefix="sertool-example-")), args.epochs)
