"""Named model inputs: several inputs per model, stored copies in training only, one bundle for eval and infer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sertool.cli.testing import invoke  # noqa: E402
from sertool.errors import SertoolError  # noqa: E402
from sertool.inference import Predictor  # noqa: E402
from sertool.testing.experiments import tiny_config  # noqa: E402
from sertool.train.bundle import Bundle, find_bundle  # noqa: E402
from sertool.train.config import build_config  # noqa: E402
from sertool.train.data import Collator, UtteranceDataset  # noqa: E402
from sertool.train.distributed import init_distributed  # noqa: E402
from sertool.train.runner import evaluate_experiment, train_experiment  # noqa: E402
from sertool.train.sources import load_experiment_data  # noqa: E402
from sertool.train.trainer import FoldTrainer  # noqa: E402

TOY = Path(__file__).parent / "toy_mel_pitch.py"


@pytest.fixture(scope="module")
def extra_feats(corpus, tmp_path_factory) -> dict[str, Path]:
    """Pitch features, and log-mels with two stored augmented copies and one random-resampling variant each."""
    root = tmp_path_factory.mktemp("named")
    manifest = corpus["en"] / "manifest.jsonl"
    invoke("features", manifest, root / "feats", "--extractor", "pitch", "--jobs", 2)
    conf = root / "aug.yaml"
    conf.write_text("augment: {copies: 2, seed: 1}\nrandom_resample: {copies: 1, seed: 2}\n")
    invoke("features", manifest, root / "aug", "--extractor", "logmel", "--config", conf, "--jobs", 2)
    return {"pitch": root / "feats", "logmel_aug": root / "aug"}  # one extractor: written to OUT itself


def two_inputs(corpus, extra_feats, encoder: str = f"{TOY}:MelPitch", **data) -> dict:
    return tiny_config(corpus, model={"encoder": encoder, "encoder_conf": {"hidden": 8}}, data={
        "features": "", "inputs": {
            "logmel": {"features": str(corpus["logmel"])},
            "pitch": {"features": str(extra_feats["pitch"]), "cmvn": "none",
                      "transform": {"name": "onehot", "column": 3, "classes": 257}}}, **data},
        train={"epochs": 2, "batch_size": 8, "tensorboard": False, "threads": 1}, optim={"lr": 1e-2})


def test_a_two_input_model_trains_and_infers_from_its_configuration_alone(corpus, extra_feats, tmp_path):
    cfg = build_config(two_inputs(corpus, extra_feats))
    train_experiment(cfg, tmp_path / "exp", folds=["1"])
    summary = evaluate_experiment(tmp_path / "exp", partial=True)
    assert 0 <= summary["mean"]["ua"] <= 1
    bundle = Bundle.load(find_bundle(tmp_path / "exp"))
    assert set(bundle.specs) == {"logmel", "pitch"} and bundle.specs["pitch"].dims == 257
    pitch = bundle.specs["pitch"]
    assert pitch.extractor["name"] == "pitch" and not pitch.normaliser(pitch.primary).mean.any()  # cmvn: none
    clip = next(Path(corpus["en"]).rglob("*.wav"))
    answer = Predictor.load(tmp_path / "exp", device="cpu").predict_file(clip)
    assert answer["emotion"] in answer["probabilities"] and answer["gender"] in ("F", "M")
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_batches_carry_each_input_padded_with_its_own_lengths(corpus, extra_feats, tmp_path):
    cfg = build_config(two_inputs(corpus, extra_feats))
    trainer = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                          log=lambda _m: None)
    batch = next(iter(trainer._loader(trainer.train_set)))
    x = batch["inputs"]
    assert set(x) == {"logmel", "logmel_lengths", "pitch", "pitch_lengths"}
    assert x["pitch"].shape[-1] == 257 and x["logmel"].shape[-1] == 384
    # log-mel (25 ms hop) and pitch (10 ms) frames differ: each input keeps its own lengths
    assert (x["pitch_lengths"] > x["logmel_lengths"]).all()
    assert x["pitch"].sum(-1)[0, : x["pitch_lengths"][0]].eq(1).all()  # one-hot on every valid frame


def test_inputs_the_model_needs_aligned_are_checked_per_utterance(corpus, extra_feats, tmp_path):
    conf = two_inputs(corpus, extra_feats, encoder=f"{TOY}:AlignedFbankPitch")
    conf["data"]["inputs"]["logmel"]["features"] = str(corpus["fbank"])
    conf["model"]["encoder_conf"]["mel_dim"] = 80
    cfg = build_config(conf)
    with pytest.raises(SertoolError, match=r"utterance \S+: inputs \w+ \(\d+ frames\) and \w+ \(\d+ frames\) must "
                                           r"be aligned"):
        FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                    log=lambda _m: None)


def test_an_input_whose_size_differs_from_the_encoder_names_both_numbers(corpus, tmp_path):
    cfg = build_config(tiny_config(corpus, data={"features": str(corpus["fbank"])}))  # 80-d fbank, encoder 384
    with pytest.raises(SertoolError, match=r"input 'feats' has 80 dimensions .* built for 384"):
        FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                    log=lambda _m: None)


def test_training_epochs_see_stored_copies_and_dev_never_does(corpus, extra_feats, tmp_path):
    cfg = build_config(tiny_config(corpus, data={"features": str(extra_feats["logmel_aug"]),
                                                 "augment": {"stored": 1.0, "tags": ["pitch", "speed", "noise",
                                                                                     "reverb", "rr"]}}))
    trainer = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                          log=lambda _m: None)
    seen = {}
    for epoch in (0, 1):
        trainer.train_set.set_epoch(epoch)
        seen[epoch] = {i: a for b in trainer._loader(trainer.train_set) for i, a in zip(b["ids"], b["augs"])}
    assert all(a is not None for a in seen[0].values())  # stored: 1.0 → every item a copy
    assert seen[0] != seen[1]  # drawn anew each epoch
    trainer.train_set.set_epoch(0)
    again = {i: a for b in trainer._loader(trainer.train_set) for i, a in zip(b["ids"], b["augs"])}
    assert again == seen[0]  # a function of (seed, epoch, utterance): a resumed run draws the same
    dev_augs = [a for b in trainer._loader(trainer.dev_set) for a in b["augs"]]
    assert dev_augs and all(a is None for a in dev_augs)


def test_online_random_resampling_changes_training_lengths_only(corpus, tmp_path):
    cfg = build_config(tiny_config(corpus, data={"augment": {"random_resample": {"segment": [19, 32],
                                                                                  "factor": [0.5, 1.5]}}}))
    trainer = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                          log=lambda _m: None)
    i = 0
    warped = trainer.train_set[i]["inputs"]["feats"].shape[0]
    plain = UtteranceDataset(trainer.train_items, trainer.data.sources, trainer.net.tasks,
                             trainer.train_set.inputs)[i]["inputs"]["feats"].shape[0]
    assert warped != plain
    assert trainer.dev_set.augment is None


def test_eval_and_infer_give_a_test_clip_identical_probabilities(corpus, tmp_path):
    cfg = build_config(tiny_config(corpus, data={"cmvn": "speaker"}))
    train_experiment(cfg, tmp_path / "exp", folds=["1"])
    bundle = Bundle.load(find_bundle(tmp_path / "exp"))
    data = load_experiment_data(bundle.cfg)
    item = data.items(data.fold_index("1"), "test")[0]
    # eval's path: the stored features, through the bundle's inputs
    dataset = UtteranceDataset([item], data.sources, bundle.model.tasks, bundle.model_inputs(data.readers))
    batch = Collator(bundle.model.tasks)([dataset[0]])
    predictor = Predictor(bundle, torch.device("cpu"))
    from_eval = predictor.predict_inputs(batch["inputs"])
    # infer's path: the audio file, features computed afresh, the speaker's own statistics
    from_infer = predictor.predict_file(item.utt.audio, speaker=item.utt.speaker)
    p_eval = np.array(list(from_eval["probabilities"].values()))
    p_infer = np.array(list(from_infer["probabilities"].values()))
    np.testing.assert_allclose(p_eval, p_infer, atol=1e-6)
    assert from_eval["emotion"] == from_infer["emotion"]
