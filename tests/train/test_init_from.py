"""init_from: a fold's model starts from the same fold's bundle of another experiment, by prefix map;
a missing tensor or a shape mismatch is refused in one line naming the tensor and both shapes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml

from sertool.errors import SertoolError
from sertool.models.decomposed import TINY
from sertool.models.ssl import TINY_ARCH
from sertool.stage import settings_digest
from sertool.train.bundle import save_bundle
from sertool.train.config import build_config
from sertool.train.distributed import init_distributed
from sertool.train.runner import experiment_inputs
from sertool.train.sources import load_experiment_data
from sertool.train.trainer import FoldTrainer

MAP = {"encoder.decomposition.": "encoder.", "tasks.recon.": "tasks.recon.", "tasks.speaker.": "tasks.speaker."}
RECON = {"type": "reconstruction", "input": "decoder", "target": "spectrogram", "lstm_units": None}


def data(corpus, feats) -> dict:
    return {"manifests": [str(corpus["en"] / "manifest.jsonl")], "folds": str(corpus["en"] / "folds.json"),
            "inputs": {"spectrogram": {"features": str(feats["speechsplit"]), "cmvn": "none"},
                       "pitch": {"features": str(feats["pitch"]), "cmvn": "none",
                                 "transform": {"name": "onehot", "column": 3, "classes": 257}}}}


def trainer(raw: dict, fold_dir: Path) -> FoldTrainer:
    cfg = build_config(raw)
    return FoldTrainer(cfg, load_experiment_data(cfg), 0, fold_dir, init_distributed("cpu"), log=lambda _m: None)


@pytest.fixture(scope="module")
def pretrained(corpus, decomposed_feats, tmp_path_factory) -> tuple[Path, FoldTrainer]:
    """A pre-training experiment whose fold 1 holds a bundle (its random initial weights suffice)."""
    exp = tmp_path_factory.mktemp("pretrain")
    raw = {"data": data(corpus, decomposed_feats), "model": {"encoder": "decomposition", "encoder_conf": TINY},
           "tasks": {"speaker": {"type": "speaker", "input": "timbre"}, "recon": RECON},
           "train": {"main_task": "speaker", "tensorboard": False, "seed": 7}}
    tr = trainer(raw, exp / "fold-1")
    save_bundle(exp / "fold-1" / "checkpoints" / "best.pt", tr.bundle(float("nan")))
    return exp, tr


def finetune(corpus, feats, init_from: dict | None, decomposition: dict = TINY) -> dict:
    d = data(corpus, feats)
    d["inputs"]["waveform"] = {"audio": True}
    raw = {"data": d, "model": {"encoder": "decomposition_ssl", "encoder_conf": {
               "ssl_conf": {"arch_conf": TINY_ARCH}, "decomposition": decomposition}},
           "tasks": {"emotion": {"type": "emotion", "weight": 0.45}, "recon": {**RECON, "weight": 0.45},
                     "speaker": {"type": "speaker", "input": "timbre", "weight": 0.05}},
           "train": {"tensorboard": False, "batch_size": 4}}
    if init_from is not None:
        raw["init_from"] = init_from
    return raw


def test_pretrained_parts_load_into_the_fine_tuning_model(corpus, decomposed_feats, pretrained, tmp_path):
    exp, pre = pretrained
    tr = trainer(finetune(corpus, decomposed_feats, {"exp": str(exp), "map": MAP}), tmp_path / "fold-1")
    src, dst = pre.net.state_dict(), tr.net.state_dict()
    decomposition = [k for k in dst if k.startswith("encoder.decomposition.")]
    assert decomposition and all(torch.equal(dst[k], src["encoder." + k.removeprefix("encoder.decomposition.")])
                                 for k in decomposition)
    assert torch.equal(dst["tasks.speaker.head.0.weight"], src["tasks.speaker.head.0.weight"])
    assert torch.equal(dst["tasks.recon.out.weight"], src["tasks.recon.out.weight"])
    fresh = trainer(finetune(corpus, decomposed_feats, None), tmp_path / "fresh").net.state_dict()
    assert torch.equal(dst["tasks.emotion.head.0.weight"], fresh["tasks.emotion.head.0.weight"])  # not mapped: own
    assert not torch.equal(dst[decomposition[0]], fresh[decomposition[0]])
    # one step of fine-tuning from there
    tr.model.train()
    tr._train_step(next(iter(tr._loader(tr.train_set, tr.sampler.batches(0)))))
    assert tr.sums["loss#n"] == 1


def test_a_mismatched_part_is_refused(corpus, decomposed_feats, pretrained, tmp_path):
    exp, _ = pretrained
    wider = {**TINY, "content_channels": 32}
    with pytest.raises(SertoolError, match=r"encoder\.decomposition\.content\.convs\.0\.conv\.weight has shape "
                                           r"\(32, 80, 5\) here but encoder\.content\.convs\.0\.conv\.weight in .* "
                                           r"has \(16, 80, 5\)"):
        trainer(finetune(corpus, decomposed_feats, {"exp": str(exp), "map": MAP}, wider), tmp_path / "fold-1")


@pytest.mark.parametrize("init_from, message", [
    ({"map": {"encoder.nothing.": "encoder."}}, "no parameter of the model starts with 'encoder.nothing.'"),
    ({"map": {"encoder.decomposition.": "encoder.timbre."}}, "has no encoder.timbre.rhythm"),
    ({"map": MAP, "exp": "elsewhere"}, "not found"),
])
def test_bad_init_from_is_one_line(corpus, decomposed_feats, pretrained, tmp_path, init_from, message):
    exp, _ = pretrained
    raw = finetune(corpus, decomposed_feats, {"exp": str(exp), **init_from})
    with pytest.raises(SertoolError, match=message) as err:
        trainer(raw, tmp_path / "fold-1")
    assert "\n" not in str(err.value)


def test_init_from_in_yaml_is_typed_and_made_absolute(tmp_path):
    from sertool.train.config import with_absolute_paths

    raw = yaml.safe_load("tasks: {emotion: {}}\ninit_from: {exp: exp/pre, map: {'a.': 'b.'}}")
    cfg = with_absolute_paths(build_config(raw), tmp_path)
    assert cfg.init_from.exp == str(tmp_path / "exp" / "pre") and cfg.init_from.map == {"a.": "b."}
    with pytest.raises(SertoolError, match="init_from needs exp"):
        build_config({"tasks": {"emotion": {}}, "init_from": {"map": {}}})


def test_a_retrained_source_makes_the_fine_tuning_stale(corpus, decomposed_feats, pretrained, tmp_path):
    # the source bundles are inputs of the fine-tuning experiment: `sertool train` redoes it when they change
    exp, pre = pretrained
    source = tmp_path / "pretrain"
    shutil.copytree(exp, source)
    cfg = build_config(finetune(corpus, decomposed_feats, {"exp": str(source), "map": MAP}))
    bundle = source / "fold-1" / "checkpoints" / "best.pt"
    inputs = experiment_inputs(cfg, ["1"])
    assert bundle in inputs
    before = settings_digest({}, inputs)
    state = pre.bundle(float("nan"))
    state["epoch"] = 2
    save_bundle(bundle, state)
    assert settings_digest({}, inputs) != before
    with pytest.raises(SertoolError, match="init_from: .*fold-2.* not found"):
        experiment_inputs(cfg)  # every fold of the folds file: fold 2 was never pre-trained
