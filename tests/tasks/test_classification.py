"""Classification tasks: labels read from the manifest, ignored where missing, losses masked."""

import torch
import torch.nn.functional as F

from sertool.data.manifest import Utterance
from sertool.tasks import build_task, build_weighting
from sertool.tasks.classification import IGNORE_INDEX


def utt(emotion, gender):
    return Utterance(id="d/x", corpus="d", audio="/x.wav", duration=1.0, sample_rate=16000, speaker="d/s",
                     gender=gender, language="en", session=None, style="acted", emotion=emotion)


def test_emotion_task_encodes_through_its_label_set():
    task = build_task("emotion", "emotion", {"pooled": 8}, {"label_set": "iemocap4"})
    assert [task.encode(utt(e, "F")) for e in ("neutral", "excited", "frustrated", None)] == [0, 1, None, None]


def test_loss_ignores_unlabelled_items_and_is_none_without_labels():
    task = build_task("gender", "gender", {"pooled": 4}, {})
    labels = task.collate([task.encode(utt(None, g)) for g in ("F", None, "M")])
    assert labels["target"].tolist() == [0, IGNORE_INDEX, 1]
    logits = torch.randn(3, 2, requires_grad=True)
    loss = task.loss(logits, labels)
    expected = F.cross_entropy(logits[[0, 2]], torch.tensor([0, 1]))
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.all(logits.grad[1] == 0)
    assert task.loss(logits, task.collate([None, None, None])) is None


def test_fixed_weighting_sums_present_tasks():
    w = build_weighting("fixed", {"emotion": 1.0, "gender": 0.5}, {})
    total, weights = w({"emotion": torch.tensor(2.0), "gender": torch.tensor(1.0)})
    assert float(total) == 2.5 and weights == {"emotion": 1.0, "gender": 0.5}
    total, weights = w({"emotion": torch.tensor(2.0)})
    assert float(total) == 2.0 and weights == {"emotion": 1.0}
