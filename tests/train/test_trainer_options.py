"""Trainer options for fine-tuning pretrained encoders: the encoder's own learning rate, frozen
parameters left out of the optimiser, gradient accumulation (the update of the whole batch, and an
exact resume), and the encoder's portable configuration in the model bundle."""

from __future__ import annotations

import pytest
import torch

from sertool.cli.testing import invoke
from sertool.models.ssl import TINY_ARCH
from sertool.testing.experiments import tiny_config
from sertool.train.bundle import Bundle
from sertool.train.checkpoint import load_checkpoint
from sertool.train.config import build_config
from sertool.train.distributed import init_distributed
from sertool.train.sources import load_experiment_data
from sertool.train.trainer import FoldTrainer

# A tiny wav2vec 2.0 with no randomness in its forward pass (no dropout, layer drop or masking), so a
# batch's loss is the mean of its items' and two half batches accumulate to the whole batch's update.
DROPOUTS = ("encoder_projection_dropout", "encoder_attention_dropout", "encoder_ff_interm_dropout", "encoder_dropout",
            "encoder_layer_drop")
QUIET = {**TINY_ARCH, **dict.fromkeys(DROPOUTS, 0.0)}


def ssl_config(corpus, **sections):
    conf = tiny_config(corpus, model={"encoder": "wav2vec2", "encoder_conf": {"arch_conf": QUIET, "freeze": "cnn"}},
                       **sections)
    conf["data"] = {**conf["data"], "max_seconds": 1.0}
    return conf


def trainer(corpus, tmp_path, conf) -> FoldTrainer:
    cfg = build_config(conf)
    return FoldTrainer(cfg, load_experiment_data(cfg), 0, tmp_path, init_distributed("cpu"), log=lambda _m: None)


def test_encoder_learning_rate_is_a_group_of_its_own_and_frozen_parameters_are_left_out(corpus, tmp_path):
    tr = trainer(corpus, tmp_path, ssl_config(corpus, optim={"name": "adamw", "lr": 1e-3, "encoder_lr": 1e-5}))
    heads, encoder = tr.optimizer.param_groups
    assert heads["lr"] == 1e-3 and encoder["lr"] == 1e-5
    in_encoder = {id(p) for p in tr.net.encoder.parameters()}
    assert all(id(p) in in_encoder for p in encoder["params"])
    assert not any(id(p) in in_encoder for p in heads["params"])
    frozen = {id(p) for p in tr.net.encoder.ssl.feature_extractor.parameters()}
    grouped = {id(p) for g in tr.optimizer.param_groups for p in g["params"]}
    assert frozen and not frozen & grouped  # freeze: cnn
    assert grouped == {id(p) for p in tr.net.parameters() if p.requires_grad}


def test_encoder_lr_is_logged_per_epoch(corpus, tmp_path):
    tr = trainer(corpus, tmp_path, ssl_config(corpus, optim={"name": "adamw", "lr": 1e-3, "encoder_lr": 1e-5,
                                                             "scheduler": {"name": "linear", "warmup_epochs": 1}},
                                              train={"epochs": 2, "batch_size": 8}))
    tr.fit()
    rows = tr.history
    assert [r["lr"] for r in rows] == pytest.approx([1e-3 / tr.updates_per_epoch, 1e-3])
    assert [r["lr_encoder"] for r in rows] == pytest.approx([1e-5 / tr.updates_per_epoch, 1e-5])


def _items(tr: FoldTrainer, idx: list[int]) -> dict:
    return tr.collate([tr.train_set[i] for i in idx])


def test_accumulating_two_half_batches_is_one_update_of_the_whole_batch(corpus, tmp_path):
    conf = ssl_config(corpus, optim={"name": "adamw", "lr": 1e-2, "grad_clip_norm": 0.5},
                      train={"batch_size": 2, "accumulate": 1})
    whole = trainer(corpus, tmp_path / "a", conf)
    halves = trainer(corpus, tmp_path / "b", {**conf, "train": {**conf["train"], "accumulate": 2}})
    assert halves.updates_per_epoch == -(-halves.steps_per_epoch // 2)
    for tr in (whole, halves):
        tr.model.train()
    whole._train_step(_items(whole, [0, 1, 2, 3]))
    before = {k: v.clone() for k, v in halves.net.state_dict().items()}
    halves._train_step(_items(halves, [0, 1]))
    assert all(torch.equal(v, before[k]) for k, v in halves.net.state_dict().items())  # no update yet
    halves.step += 1
    halves._train_step(_items(halves, [2, 3]))
    assert halves.scheduler.last_epoch == whole.scheduler.last_epoch == 1
    for (name, a), b in zip(whole.net.state_dict().items(), halves.net.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_the_last_short_group_of_an_epoch_still_updates(corpus, tmp_path):
    tr = trainer(corpus, tmp_path, ssl_config(corpus, train={"batch_size": 5, "accumulate": 4}))
    assert tr.steps_per_epoch % 4 != 0
    tr.model.train()
    tr._train_epoch()
    assert tr.scheduler.last_epoch == tr.updates_per_epoch == -(-tr.steps_per_epoch // 4)


def test_accumulating_run_interrupted_mid_epoch_resumes_to_the_same_weights(corpus, tmp_path, monkeypatch):
    """Mid-epoch resume points fall between updates only; the resumed run reaches the uninterrupted one."""
    conf = tiny_config(corpus, weighting={"name": "uncertainty"},
                       optim={"name": "adamw", "lr": 3e-3, "scheduler": {"name": "cosine", "warmup_epochs": 1}},
                       train={"epochs": 2, "batch_size": 2, "accumulate": 2, "checkpoint_every_steps": 3})
    straight = trainer(corpus, tmp_path / "straight", conf)
    straight.fit()

    step = FoldTrainer._train_step

    def killed_after_five(self, batch):
        if self.epoch == 0 and self.step == 5:
            raise KeyboardInterrupt
        step(self, batch)

    monkeypatch.setattr(FoldTrainer, "_train_step", killed_after_five)
    with pytest.raises(KeyboardInterrupt):
        trainer(corpus, tmp_path / "killed", conf).fit()
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    assert load_checkpoint(last)["step"] == 4  # every 3 batches, at the next update (4 = 2 updates of 2)
    monkeypatch.setattr(FoldTrainer, "_train_step", step)
    resumed = trainer(corpus, tmp_path / "killed", conf)
    resumed.fit()
    for (name, a), b in zip(straight.net.state_dict().items(), resumed.net.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-6), name
    assert [r["loss"] for r in straight.history] == pytest.approx([r["loss"] for r in resumed.history], rel=1e-6)


def test_bundle_of_an_ssl_model_rebuilds_without_its_weights_file(corpus, tmp_path):
    state = trainer(corpus, tmp_path / "init", ssl_config(corpus)).net.encoder.ssl.state_dict()
    torch.save(state, tmp_path / "pretrained.pt")
    conf = ssl_config(corpus)
    conf["model"]["encoder_conf"]["weights"] = str(tmp_path / "pretrained.pt")
    tr = trainer(corpus, tmp_path / "fold", conf)
    bundle = tr.bundle(dev_ua=0.5)
    (tmp_path / "pretrained.pt").unlink()
    enc_conf = bundle["config"]["model"]["encoder_conf"]
    assert enc_conf["weights"] is None and enc_conf["initialised_from"].endswith("pretrained.pt")
    rebuilt = Bundle.from_dict(bundle)
    assert all(torch.equal(v, rebuilt.model.state_dict()[k]) for k, v in tr.net.state_dict().items())


def test_dynamic_batches_train_an_audio_model_within_their_padded_seconds(corpus, tmp_path):
    # train.batch_seconds: batches cut by padded audio seconds (count × longest), the waveform cut at max_seconds
    conf = ssl_config(corpus, train={"epochs": 1, "batch_size": 16, "batch_seconds": 3.0})
    tr = trainer(corpus, tmp_path, conf)
    seen = []
    step = tr._train_step

    def record(batch):
        lengths = batch["inputs"]["waveform_lengths"]
        seen.append((len(lengths), int(lengths.max())))
        step(batch)

    tr._train_step = record
    tr.fit()
    assert sum(n for n, _ in seen) == len(tr.train_items) and len(seen) == tr.steps_per_epoch
    assert all(n == 1 or n * longest <= 3.0 * 16000 for n, longest in seen)
    assert max(n for n, _ in seen) == 3  # 1 s clips (max_seconds: 1.0): three fit in 3 s


def test_a_waveform_feature_directory_feeds_an_audio_encoder(corpus, tmp_path):
    # audio decoded and resampled once by `sertool features --extractor waveform`, then read from shards
    invoke("features", corpus["en"] / "manifest.jsonl", tmp_path / "feats", "--extractor", "waveform", "--jobs", 1)
    audio = trainer(corpus, tmp_path / "audio", ssl_config(corpus))
    conf = ssl_config(corpus)
    conf["data"] = {**conf["data"], "inputs": {"waveform": {"features": str(tmp_path / "feats"),
                                                            "cmvn": "none"}}}
    stored = trainer(corpus, tmp_path / "stored", conf)
    a, b = audio.train_set[0]["inputs"]["waveform"], stored.train_set[0]["inputs"]["waveform"]
    assert torch.as_tensor(a).reshape(-1).shape == torch.as_tensor(b).reshape(-1).shape
    assert torch.allclose(torch.as_tensor(a).reshape(-1).float(), torch.as_tensor(b).reshape(-1).float(), atol=1e-4)
    batch = stored.collate([stored.train_set[i] for i in range(3)])
    out = stored.net(**batch["inputs"])
    assert len(stored.net.tasks["emotion"].decode(out["emotion"])) == 3
