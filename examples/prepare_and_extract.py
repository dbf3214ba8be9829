"""Prepare a small synthetic corpus and extract log-mel features, from Python instead of the CLI.

This is what ``sertool prep synthetic`` and ``sertool features`` do, as two function calls:

1. :func:`sertool.corpora.prepare.prepare_corpus` runs the synthetic corpus's preparer, which speaks
   neutral sentences as neutral, happy, angry and sad speech with eSpeak NG voices (no download)
   and writes ``manifest.jsonl`` (one JSON object per utterance) and ``folds.json``
   (speaker-independent folds).
2. :func:`sertool.features.pipeline.extract_features` computes log-mel + Δ + ΔΔ matrices
   (128 mels × 3 = 384 columns per frame) into HDF5 shards with an ``index.jsonl`` and the
   per-speaker statistics (``cmvn.json``) that training normalises with.

The corpus is tiny (4 English speakers × 4 emotions × 2 utterances = 32 clips), so this takes
seconds; the recipe (``recipes/synthetic/run.sh``) makes 960.

Run::

    python examples/prepare_and_extract.py --work /tmp/sertool-example

Without ``--work`` it writes to a new temporary directory. The next examples
(``train_one_fold.py``, ``predict_with_bundle.py``) take the same ``--work`` and reuse its output.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from sertool.console import console
from sertool.corpora.common import PrepReport
from sertool.corpora.prepare import prepare_corpus
from sertool.data.folds import read_folds
from sertool.data.manifest import read_manifest
from sertool.features.pipeline import extract_features
from sertool.features.storage import FeatureReader

# Tiny settings: 4 English voices (m1, f1, m2, f2: both genders, for the gender task), 2 clips
# per emotion each, and 4 folds of one test speaker each (train on 2, pick the epoch on 1).
CORPUS = {"speakers": 4, "per_class": 2, "languages": ("en",), "styles": ("studio", "telephone"), "k": 4, "seed": 0}


def prepare(work: Path, jobs: int = 2) -> PrepReport:
    """Synthesise the corpus into ``work/data/synthetic`` unless it is already there."""
    out = work / "data" / "synthetic"
    # What `sertool prep synthetic` runs: the corpus registry finds the preparer, and the stage
    # marker (``.done``) skips a rerun with the same settings. A real corpus passes its directory
    # instead of None, e.g. prepare_corpus("iemocap", Path("/data/IEMOCAP_full_release"), out).
    return prepare_corpus("synthetic", None, out, jobs=jobs, **CORPUS)


def extract(work: Path, jobs: int = 2) -> Path:
    """Log-mel features of every utterance into ``work/feats/logmel``; returns that directory."""
    manifest = work / "data" / "synthetic" / "manifest.jsonl"
    feats = work / "feats" / "logmel"
    # One extractor name writes feats/ itself; "logmel+pitch" would write feats/logmel and
    # feats/pitch in one pass. config=None keeps the defaults (a YAML path would change them).
    # The function skips itself when feats/.done matches, like every stage, and returns a
    # summary table (utterances, frames, dims, speed) that the CLI prints.
    summary = extract_features([manifest], feats, "logmel", config=None, jobs=jobs)
    console.print(summary)
    return feats


def main(work: Path) -> dict:
    """Prepare and extract; print what was made and return the paths the next examples need."""
    work = Path(work)
    report = prepare(work)
    feats = extract(work)

    data = work / "data" / "synthetic"
    print(f"{report.kept} utterances: " + ", ".join(f"{k} {v}" for k, v in report.classes.items()))
    # Folds are speaker-independent: no speaker is in both a fold's training and test sets.
    speaker_of = {u.id: u.speaker for u in read_manifest(data / "manifest.jsonl")}
    protocol, folds = read_folds(data / "folds.json")
    print(f"{len(folds)} folds ({protocol}):")
    for fold in folds:
        test_speakers = sorted({speaker_of[u] for u in fold.test})
        print(f"  fold {fold.name}: train {len(fold.train)}, dev {len(fold.dev)}, test {len(fold.test)} "
              f"(test speaker {', '.join(test_speakers)})")

    reader = FeatureReader(feats)  # random access to the shards by utterance id
    first = reader.ids()[0]
    matrix = reader.read(first)  # float32 (frames, dims)
    print(f"{first}: features {matrix.shape} (frames × dims), {reader.frame_shift * 1000:.0f} ms per frame")
    return {"manifest": data / "manifest.jsonl", "folds_json": data / "folds.json", "feats": feats,
            "utterances": report.kept, "folds": [f.name for f in folds], "shape": matrix.shape}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None, help="output directory (default: a new temporary one)")
    args = parser.parse_args()
    main(args.work or Path(tempfile.mkdtemp(prefix="sertool-example-")))
