"""Every configuration a recipe ships loads, builds and trains one step (on the test corpus's data),
unless the recipe's stand-in dry run trains them all.

A model reading audio ignores the feature directory the test supplies; a pretrained SSL encoder (or
one nested in a composite's ``ssl_conf``) is shrunk to a tiny random one of the same architecture (no
weights are downloaded in tests), the decomposed-speech autoencoders narrowed. Named feature inputs
read the test's features of the same extractor (the directory's last component: ``speechsplit``,
``pitch``); ``init_from`` is left out (tests/train/test_init_from.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sertool.models import encoder_class  # noqa: E402
from sertool.models.decomposed import NARROW  # noqa: E402
from sertool.models.ssl import TINY_ARCH, SSLEncoder  # noqa: E402
from sertool.train.config import build_config  # noqa: E402
from sertool.train.distributed import init_distributed  # noqa: E402
from sertool.train.sources import load_experiment_data  # noqa: E402
from sertool.train.trainer import FoldTrainer  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
# The stand-in dry runs of these recipes (tests/recipes) train every one of their configurations
# on their corpora's real layouts; the other recipes' dry runs train one configuration each.
DRY_RUN_TRAINS_ALL = {"speecheq", "selective_mtl", "sa_cnn_blstm"}
CONFIGS = sorted(p for p in RECIPES.glob("*/conf/*.yaml") if p.parent.parent.name not in DRY_RUN_TRAINS_ALL)


def test_there_are_recipe_configurations():
    assert CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_recipe_configuration_trains_one_step(path, corpus, tmp_path, request):
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    # the recipe's own model, tasks and optimiser; the test corpus's manifests, folds and log-mels
    raw["data"].update(manifests=[str(corpus["en"] / "manifest.jsonl")], folds=str(corpus["en"] / "folds.json"),
                       features=str(corpus["logmel"]))
    raw["data"]["num_workers"] = 0
    raw["train"].update(batch_size=4, tensorboard=False, threads=1)
    if "input_dim" in raw["model"].get("encoder_conf", {}):  # a recipe on 80 mel bands or 40 filter banks
        raw["model"]["encoder_conf"]["input_dim"] = 384      # reads the test corpus's log-mels + Δ + ΔΔ
    if issubclass(encoder_class(raw["model"]["encoder"]), SSLEncoder):
        raw["model"]["encoder_conf"].update(weights=None, arch_conf=TINY_ARCH)
    if "ssl_conf" in raw["model"]["encoder_conf"]:
        raw["model"]["encoder_conf"]["ssl_conf"].update(weights=None, arch_conf=TINY_ARCH)
    # the decomposed-speech autoencoders at the paper's widths take seconds a step: narrowed
    cls = encoder_class(raw["model"]["encoder"])
    if raw["model"]["encoder"] in NARROW:
        raw["model"]["encoder_conf"].update(NARROW[raw["model"]["encoder"]])
    elif getattr(cls, "autoencoder", None) in NARROW:
        raw["model"]["encoder_conf"].setdefault("decomposition", {}).update(NARROW[cls.autoencoder])
    named = {k: v for k, v in raw["data"].get("inputs", {}).items() if v.get("features")}
    if named:
        feats = request.getfixturevalue("decomposed_feats")
        for inp in named.values():
            inp["features"] = str(feats[Path(inp["features"]).name])
    raw.pop("init_from", None)
    cfg = build_config(raw)
    trainer = FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path / "fold-1", init_distributed("cpu"),
                          log=lambda _m: None)
    before = [p.detach().clone() for p in trainer.net.parameters()]
    trainer.model.train()
    batch = next(iter(trainer._loader(trainer.train_set, trainer.sampler.batches(0))))
    trainer._train_step(batch)
    assert trainer.sums["loss#n"] == 1 and trainer.sums["loss"] == trainer.sums["loss"]  # one finite update
    assert any(not (a == b.detach()).all() for a, b in zip(before, trainer.net.parameters()))
