"""Utterance-level classification tasks: emotion category, gender, speaker and style.

Each puts a linear (or MLP) head on one encoder output (``pooled`` by default) and trains with
the focal loss over the items that carry a label (``IGNORE_INDEX`` elsewhere); ``gamma`` = 0, the
default, is the cross-entropy, SpeechEQ uses γ = 10 for emotion and gender (speecheq.txt §3.2).

``class_weights`` (``{label: w}``) multiplies the loss of items of those classes by ``w``.

The style task (acted / spontaneous, selective_mtl.txt §2.2) reads ``style`` unless told to read
another field and map its values (``field: extra.channel``, ``map: {studio: acted, telephone:
spontaneous}``). With ``selective: true`` no style loss is computed for neutral utterances (selective
MTL, §2.3): they count in the batch mean with a style loss of zero, so the style term is
``(1 − λ_i) · loss_i`` averaged over the batch with ``λ_i = 1`` for neutral. The paper's ``λ_i = 1`` on
the emotion loss of neutral utterances is ``class_weights: {neutral: 1/λ}`` on the emotion task.

Example::

    task = EmotionTask("emotion", {"pooled": 960}, label_set="iemocap4", gamma=10.0)
    task.encode(utt_with_emotion_excited)
    # 1
    task(enc_out).shape
    # torch.Size([N, 4])
"""

from __future__ import annotations

from typing import Any

import torch

from sertool.data.labels import GENDER_LABELS, get_label_set
from sertool.data.manifest import STYLES, Utterance
from sertool.errors import SertoolError
from sertool.evaluation.metrics import classification_scores, important_ua
from sertool.tasks.base import Task, mlp_head, register_task, require_input, utterance_field
from sertool.tasks.losses import IGNORE_INDEX, focal_loss


class ClassificationTask(Task):
    """A linear (or MLP) head over one encoder output, trained with the focal loss (γ = 0: cross-entropy)."""

    def __init__(self, name: str, in_dims: dict[str, int], labels: tuple[str, ...], input: str = "pooled",
                 hidden: list[int] | None = None, dropout: float = 0.0, gamma: float = 0.0,
                 class_weights: dict[str, float] | None = None):
        super().__init__(name)
        if not labels:
            raise SertoolError(f"task {name!r}: no classes")
        if gamma < 0:
            raise SertoolError(f"task {name!r}: gamma must be ≥ 0, got {gamma}")
        unknown = set(class_weights or {}) - set(labels)
        if unknown:
            raise SertoolError(f"task {name!r}: class_weights for unknown class(es) {', '.join(sorted(unknown))}")
        self.labels = tuple(labels)
        self.input = input
        self.gamma = float(gamma)
        self.head = mlp_head(require_input(name, in_dims, input), len(self.labels), hidden, dropout)
        weights = torch.tensor([float((class_weights or {}).get(lab, 1.0)) for lab in self.labels])
        self.register_buffer("class_weights", weights if class_weights else None, persistent=False)

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        return {"target": torch.tensor([IGNORE_INDEX if y is None else y for y in labels], dtype=torch.long)}

    def forward(self, enc_out: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(enc_out[self.input])  # (N, classes)

    def loss(self, pred: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return focal_loss(pred, labels["target"], self.gamma, self.class_weights)

    def references(self, labels: dict[str, torch.Tensor]) -> list[int | None]:
        return [None if y == IGNORE_INDEX else y for y in labels["target"].tolist()]

    def decode(self, pred: torch.Tensor) -> list[int]:
        return pred.argmax(-1).tolist()

    def report(self, refs: list[int], hyps: list[int]) -> dict[str, Any]:
        """WA, UA, macro-F1, per-class recall and confusion (the main task's scores.json), and UAi
        where the label set has some of neutral, happy, angry, sad (speecheq.txt §3.1)."""
        scores = classification_scores(refs, hyps, self.labels)
        uai = important_ua(scores["confusion"], self.labels)
        if uai is not None and self.kind == "emotion":
            scores["uai"] = uai
        return scores

    def metrics(self, refs: list[int], hyps: list[int]) -> dict[str, float]:
        """Accuracy (an auxiliary task's score; the main task's full report is :meth:`report`)."""
        return {"acc": self.report(refs, hyps)["wa"]}

    def answer(self, pred: torch.Tensor) -> list[dict[str, Any]]:
        probs = torch.softmax(pred.float(), -1).cpu().double()
        probs = probs / probs.sum(-1, keepdim=True)  # exact normalisation after the float conversion
        return [{self.name: self.labels[int(p.argmax())],
                 f"{self.name}_probabilities": {lab: float(v) for lab, v in zip(self.labels, p)}} for p in probs]

    def describe(self) -> dict[str, Any]:
        return {"labels": list(self.labels)}


@register_task
class EmotionTask(ClassificationTask):
    """Emotion category over a named label set (``emo4``, ``iemocap4``, ``seqm9``, …)."""

    kind = "emotion"

    def __init__(self, name: str, in_dims: dict[str, int], label_set: str = "emo4", **kw: Any):
        self.label_set = get_label_set(label_set)
        super().__init__(name, in_dims, self.label_set.labels, **kw)

    def encode(self, utt: Utterance) -> int | None:
        return self.label_set.index_of(getattr(utt, self.label_set.field))


@register_task
class GenderTask(ClassificationTask):
    """Speaker gender (F/M) from the manifest's ``gender`` field."""

    kind = "gender"

    def __init__(self, name: str, in_dims: dict[str, int], **kw: Any):
        super().__init__(name, in_dims, GENDER_LABELS, **kw)

    def encode(self, utt: Utterance) -> int | None:
        return GENDER_LABELS.index(utt.gender) if utt.gender in GENDER_LABELS else None


@register_task
class SpeakerTask(ClassificationTask):
    """Speaker identity over the speakers of the training set (ssl_mtl.txt §2.2.3).

    ``speakers`` is filled from the fold's training utterances when not given, and saved in the
    model bundle; utterances of other speakers (the test speakers of a speaker-independent fold)
    carry no label.
    """

    kind = "speaker"

    def __init__(self, name: str, in_dims: dict[str, int], speakers: list[str] | None = None, **kw: Any):
        if not speakers:
            raise SertoolError(f"task {name!r}: no training speakers")
        super().__init__(name, in_dims, tuple(speakers), **kw)
        self._index = {s: i for i, s in enumerate(self.labels)}

    @classmethod
    def complete_conf(cls, conf: dict[str, Any], utts: list[Utterance]) -> dict[str, Any]:
        if conf.get("speakers"):
            return conf
        return {**conf, "speakers": sorted({u.speaker for u in utts})}

    def encode(self, utt: Utterance) -> int | None:
        return self._index.get(utt.speaker)


# The "label" of an utterance a selective task computes no loss for (it counts in the mean as a zero).
SELECTED_OUT = -1


@register_task
class StyleTask(ClassificationTask):
    """Speaking style (acted / spontaneous), optionally selective: zero style loss for neutral utterances."""

    kind = "style"

    def __init__(self, name: str, in_dims: dict[str, int], labels: list[str] | None = None, field: str = "style",
                 map: dict[str, str] | None = None, selective: bool = False, neutral: str = "neutral", **kw: Any):
        labels = list(labels or ["acted", "spontaneous"])
        mapping = dict(map or {})
        unknown = set(mapping.values()) - set(labels)
        if unknown:
            raise SertoolError(f"task {name!r}: map gives styles outside its labels: {', '.join(sorted(unknown))}")
        if field == "style" and not set(labels) <= set(STYLES):
            raise SertoolError(f"task {name!r}: style labels must be among {', '.join(STYLES)}")
        super().__init__(name, in_dims, tuple(labels), **kw)
        self.field, self.map, self.selective, self.neutral = field, mapping, selective, neutral

    def encode(self, utt: Utterance) -> int | None:
        value = utterance_field(utt, self.field)
        value = self.map.get(value, value)
        if value not in self.labels:
            return None
        if self.selective and utt.emotion == self.neutral:
            return SELECTED_OUT  # selective MTL: λ = 1 for neutral, no style loss (selective_mtl.txt §2.3)
        return self.labels.index(value)

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        out = super().collate([None if y == SELECTED_OUT else y for y in labels])
        out["count"] = torch.tensor(sum(y is not None for y in labels))  # neutral included, with zero loss
        return out

    def loss(self, pred: torch.Tensor, labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return focal_loss(pred, labels["target"], self.gamma, self.class_weights, int(labels["count"]))
