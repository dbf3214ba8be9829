"""Several corpora in one experiment: which fold part each utterance joins and what it may train."""

from __future__ import annotations

import json

import pytest

from sertool.data.folds import Fold, write_folds  # noqa: E402
from sertool.errors import SertoolError  # noqa: E402
from sertool.models.multitask import MultiTaskModel  # noqa: E402
from sertool.testing.experiments import tiny_config  # noqa: E402
from sertool.train.config import build_config  # noqa: E402
from sertool.train.data import UtteranceDataset  # noqa: E402
from sertool.train.inputs import ModelInputs  # noqa: E402
from sertool.train.sources import load_experiment_data, subsample  # noqa: E402

TASKS = {"emotion": {"type": "emotion"}, "gender": {"type": "gender"},
         "phones_zh": {"type": "ctc", "inventory": "pinyin202"}}


def two_corpora(corpus, zh: dict) -> dict:
    return tiny_config(corpus, tasks=TASKS, data={"manifests": [
        str(corpus["en"] / "manifest.jsonl"), {"path": str(corpus["zh"] / "manifest.jsonl"), **zh}]})


def test_a_corpus_outside_the_folds_trains_in_every_fold_and_only_its_tasks(corpus):
    cfg = build_config(two_corpora(corpus, {"tasks": ["phones_zh", "gender"], "ratio": 0.5}))
    data = load_experiment_data(cfg)
    assert data.sources[0].folds is data.folds and data.sources[1].folds is None
    en_folds = json.loads((corpus["en"] / "folds.json").read_text())["folds"]
    for k, fold in enumerate(en_folds):
        train = data.items(k, "train")
        assert {it.utt.id for it in train if it.source == 0} == set(fold["train"])
        assert sum(it.source == 1 for it in train) == 8  # every zh utterance, every fold
        assert all(it.source == 0 for it in data.items(k, "dev") + data.items(k, "test"))
    model = MultiTaskModel.build("sa_cnn_blstm", {"input_dim": 384}, TASKS)
    zh = [it for it in data.items(0, "train") if it.source == 1]
    ds = UtteranceDataset(zh, data.sources, model.tasks, ModelInputs({}, {}))
    assert all(lab["emotion"] is None and lab["phones_zh"] and lab["gender"] is not None for lab in ds.labels)
    en = [it for it in data.items(0, "train") if it.source == 0]
    ds = UtteranceDataset(en, data.sources, model.tasks, ModelInputs({}, {}))
    assert all(lab["emotion"] is not None and lab["phones_zh"] is None for lab in ds.labels)  # English: no pinyin


def test_a_corpus_with_its_own_folds_is_paired_fold_by_fold(corpus, tmp_path):
    zh_ids = [json.loads(line)["id"] for line in (corpus["zh"] / "manifest.jsonl").read_text().splitlines()]
    folds = [Fold(str(i), train=zh_ids[:4], test=zh_ids[4 + i: 5 + i]) for i in range(4)]
    write_folds(tmp_path / "zh_folds.json", "custom", folds)
    data = load_experiment_data(build_config(two_corpora(corpus, {"folds": str(tmp_path / "zh_folds.json")})))
    assert [it.utt.id for it in data.items(2, "test") if it.source == 1] == [zh_ids[6]]
    assert sum(it.source == 1 for it in data.items(2, "train")) == 4
    write_folds(tmp_path / "two.json", "custom", folds[:2])
    with pytest.raises(SertoolError, match="paired fold by fold"):
        load_experiment_data(build_config(two_corpora(corpus, {"folds": str(tmp_path / "two.json")})))


def test_split_and_half(corpus):
    data = load_experiment_data(build_config(two_corpora(corpus, {"split": "train"})))
    assert not [it for it in data.items(0, "train") if it.source == 1]  # no zh utterance has split "train"
    items = data.items(0, "train")
    half = subsample(items, 0.5, seed=0, key=lambda it: (it.source, it.utt.emotion))
    assert len(half) == len(items) // 2
    assert {it.utt.emotion for it in half} == {it.utt.emotion for it in items}
    assert half == subsample(items, 0.5, seed=0, key=lambda it: (it.source, it.utt.emotion))


def test_config_refuses_unknown_tasks_per_corpus(corpus):
    with pytest.raises(SertoolError, match=r"manifests\[1\] trains unknown task"):
        build_config(two_corpora(corpus, {"tasks": ["speaker"]}))
