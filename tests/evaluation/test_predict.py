"""Scores the evaluation reports from a model's predictions."""

from __future__ import annotations

from sertool.evaluation.predict import per_corpus_scores
from sertool.tasks import build_task


def test_scores_per_corpus_when_several_are_tested():
    task = build_task("emotion", "emotion", {"pooled": 4}, {})
    pred = {"ref": [0, 1, 0, 1], "hyp": [0, 1, 1, 1], "corpus": ["iemocap", "iemocap", "callcenter", "callcenter"]}
    scores = per_corpus_scores(task, pred)
    assert scores["iemocap"] == {"n": 2, "wa": 1.0, "ua": 1.0}
    assert scores["callcenter"] == {"n": 2, "wa": 0.5, "ua": 0.5}
