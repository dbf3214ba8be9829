"""Classify audio with a trained model: the high-level Predictor and the model bundle beneath it.

What ``sertool infer EXP clip.wav`` does, from Python:

1. :class:`sertool.inference.Predictor` loads an experiment directory (or one ``best.pt``) and
   answers for an audio file (``predict_file``) or a numpy waveform at any sample rate
   (``predict_wave``) with the emotion, its class probabilities and the other heads' answers
   (here gender).
2. Beneath it, :func:`sertool.train.bundle.find_bundle` picks the fold whose best checkpoint has
   the highest dev UA, and :class:`sertool.train.bundle.Bundle` holds what that ``best.pt``
   carries: the configuration, the weights and one :class:`~sertool.train.inputs.InputSpec` per
   named model input (the extractor that made it, the normalisation training fitted, the
   crop length), so inference computes the input from audio exactly as training read it.

Run::

    python examples/predict_with_bundle.py --work /tmp/sertool-example

``--work`` is the directory of the first two examples; the corpus, features and model are made
first when they are not there yet. The clip is one of the held-out (test) speaker's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from train_one_fold import main as train_one_fold  # the second example, beside this file

from sertool.audio import read_audio
from sertool.data.folds import read_folds
from sertool.data.manifest import read_manifest
from sertool.inference import Predictor
from sertool.train.bundle import Bundle, find_bundle


def held_out_clip(work: Path, fold: str) -> Path:
    """An audio file of the fold's test speaker: a voice the model never heard."""
    data = work / "data" / "synthetic"
    _, folds = read_folds(data / "folds.json")
    test_ids = set(next(f.test for f in folds if f.name == fold))
    return Path(next(u.audio for u in read_manifest(data / "manifest.jsonl") if u.id in test_ids))


def main(work: Path) -> dict:
    """Predict a clip file and a waveform; show the bundle; return the answers and the bundle's facts."""
    work = Path(work)
    exp = work / "exp" / "tiny"
    if not list(exp.glob("fold-*/checkpoints/best.pt")):
        train_one_fold(work)

    # --- the bundle: what a trained fold is ------------------------------------------------
    path = find_bundle(exp)  # EXP/fold-<best dev UA>/checkpoints/best.pt (or pass fold="1")
    bundle = Bundle.load(path, device="cpu")
    print(f"bundle {path.relative_to(work)}: fold {bundle.fold}, epoch {bundle.epoch}, "
          f"dev UA {100 * bundle.dev_ua:.1f} %, trained on {', '.join(bundle.train_speakers)}")
    for name, spec in bundle.specs.items():
        # One spec per input the encoder declares; sa_cnn_blstm reads one, "feats".
        print(f"  input {name!r}: {spec.source} from {spec.extractor['name']} at {spec.audio_rate} Hz, "
              f"{spec.dims} dims every {1000 * spec.frame_shift:.0f} ms, cropped to {spec.max_len} frames, "
              f"normalised with the training speakers' mean and std")
    print("  tasks: " + ", ".join(f"{n} {d.get('labels', '')}" for n, d in bundle.raw["tasks"].items()))

    # --- the Predictor: audio in, JSON-ready answers out -----------------------------------
    predictor = Predictor.load(exp, device="cpu")  # the same fold find_bundle chose
    clip = held_out_clip(work, bundle.fold)
    from_file = predictor.predict_file(clip)
    print("predict_file:", json.dumps(from_file))

    # Any rate and length: here the clip's first 1.5 s at 8 kHz; the Predictor resamples it
    # to the extractor's 16 kHz before computing the log-mels.
    wave, rate = read_audio(clip, sample_rate=8000)
    from_wave = predictor.predict_wave(wave[: int(1.5 * rate)], rate)
    print("predict_wave:", json.dumps(from_wave))

    # --- the same answer by hand, from the bundle ------------------------------------------
    # spec.from_audio computes, normalises and crops the input as training did; the model takes
    # each named input with its lengths and returns one output per task.
    wave16, _ = read_audio(clip, sample_rate=16000)
    feats = torch.from_numpy(bundle.specs["feats"].from_audio(wave16, 16000))  # (T, 384)
    with torch.no_grad():
        out = bundle.model(feats=feats[None], feats_lengths=torch.tensor([feats.shape[0]]))
    by_hand = bundle.model.tasks["emotion"].answer(out["emotion"])[0]
    print("by hand:", json.dumps(by_hand))
    return {"file": from_file, "wave": from_wave, "by_hand": by_hand, "fold": bundle.fold,
            "dev_ua": bundle.dev_ua, "inputs": sorted(bundle.specs)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None,
                        help="directory of the first two examples (default: a new temporary one, trained first)")
    args = parser.parse_args()
    main(args.work or Path(tempfile.mkdtemp(prefix="sertool-example-")))
