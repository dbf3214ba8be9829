"""The data path keeps the papers' settings: which utterances take part, filters, and whole transcripts."""

from __future__ import annotations

from collections import Counter

import pytest

from sertool.data.manifest import read_manifest, write_manifest
from sertool.errors import SertoolError
from sertool.testing.experiments import tiny_config
from sertool.train.config import build_config
from sertool.train.distributed import init_distributed
from sertool.train.sources import load_experiment_data
from sertool.train.trainer import FoldTrainer

PHONES = {"emotion": {"type": "emotion", "label_set": "emo4"}, "gender": {"type": "gender"},
          "phones": {"type": "ctc", "inventory": "cmudict85"}}


def trainer_for(conf: dict, tmp_path, fold: int = 0) -> FoldTrainer:
    cfg = build_config(conf)
    return FoldTrainer(cfg, load_experiment_data(cfg), fold, tmp_path / "fold", init_distributed("cpu"),
                       log=lambda _m: None)


@pytest.fixture
def frustrated(corpus, tmp_path):
    """The fixture corpus with a quarter of its utterances relabelled 'frustrated' (outside emo4)."""
    utts = read_manifest(corpus["en"] / "manifest.jsonl")
    for u in utts[::4]:
        u.emotion, u.esc, u.eis = "frustrated", None, -1.0
    write_manifest(tmp_path / "manifest.jsonl", utts)
    return tmp_path / "manifest.jsonl", {u.id for u in utts[::4]}


def test_the_main_task_decides_which_utterances_of_the_folds_take_part(corpus, tmp_path, frustrated):
    manifest, outside = frustrated
    trainer = trainer_for(tiny_config(corpus, data={"manifests": [str(manifest)]}), tmp_path)
    ids = {it.utt.id for it in trainer.train_items}
    assert ids and not ids & outside  # frustrated turns train no gender head either
    kept = trainer_for(tiny_config(corpus, data={"manifests": [{"path": str(manifest), "keep_unlabelled": True}]}),
                       tmp_path)
    assert {it.utt.id for it in kept.train_items} & outside  # on purpose: they train gender


def test_corpus_filters_apply_to_training_and_testing(corpus, tmp_path):
    conf = tiny_config(corpus, data={"manifests": [{"path": str(corpus["en"] / "manifest.jsonl"),
                                                    "emotions": ["happy", "sad"]}]})
    data = load_experiment_data(build_config(conf))
    for part in ("train", "dev", "test"):
        assert {it.utt.emotion for it in data.items(0, part)} == {"happy", "sad"}
    two = tiny_config(corpus, tasks=PHONES, data={"manifests": [
        str(corpus["en"] / "manifest.jsonl"), {"path": str(corpus["zh"] / "manifest.jsonl"), "languages": ["en"]}]})
    assert not [it for it in load_experiment_data(build_config(two)).items(0, "train") if it.source == 1]


def test_a_per_class_cap_balances_training_classes(corpus, tmp_path):
    conf = tiny_config(corpus, data={"manifests": [{"path": str(corpus["en"] / "manifest.jsonl"),
                                                    "max_per_class": 2}]})
    counts = Counter(it.utt.emotion for it in trainer_for(conf, tmp_path).train_items)
    assert set(counts.values()) == {2} and len(counts) == 4


def test_utterances_with_a_transcript_are_never_cropped(corpus, tmp_path):
    conf = tiny_config(corpus, tasks=PHONES, data={"max_seconds": 0.5})
    trainer = trainer_for(conf, tmp_path)
    frames = trainer.train_set[0]["inputs"]["feats"].shape[0]
    whole = trainer.data.readers[str(corpus["logmel"])].frames(trainer.train_items[0].utt.id)
    assert frames == whole > trainer.specs["feats"].max_len  # CTC item: its transcript needs all its audio
    plain = trainer_for(tiny_config(corpus, data={"max_seconds": 0.5}), tmp_path)
    assert plain.train_set[0]["inputs"]["feats"].shape[0] == plain.specs["feats"].max_len


def test_long_transcribed_utterances_are_dropped_or_refused_by_option(corpus, tmp_path):
    durations = sorted(u.duration for u in read_manifest(corpus["en"] / "manifest.jsonl"))
    limit = durations[len(durations) // 2]  # half the utterances are longer
    kept = trainer_for(tiny_config(corpus, tasks=PHONES, data={"max_seconds": limit}), tmp_path)
    dropped = trainer_for(tiny_config(corpus, tasks=PHONES, data={"max_seconds": limit,
                                                                  "long_transcripts": "drop"}), tmp_path)
    assert 0 < len(dropped.train_items) < len(kept.train_items)
    assert all(it.utt.duration <= limit for it in dropped.train_items)
    with pytest.raises(SertoolError, match="cannot be cropped; set data.long_transcripts: drop"):
        trainer_for(tiny_config(corpus, tasks=PHONES, data={"max_seconds": limit, "pad_to_max": True}), tmp_path)
