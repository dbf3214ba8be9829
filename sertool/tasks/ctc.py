"""Phoneme or character recognition with CTC over the encoder's frame outputs.

SpeechEQ's phoneme task (speecheq.txt eq. 1: CMUdict's 85 symbols for English, pypinyin's 202
for Mandarin) and ssl_mtl.txt's character task (``char32``). The head is a linear layer from
``frames`` to the inventory's symbols; the blank is the inventory's own blank symbol where it
has one (``char32``'s ``<pad>``, id 0, as in wav2vec 2.0's 32-way CTC head), else an extra last
index after the symbols (the phone inventories: blank = ``inventory.size``). ``field: phones``
reads the manifest's phones, and only for utterances whose language the inventory transcribes
(an English phone task never sees Mandarin pinyin); ``field: text`` spells English transcripts
in ``char32`` (normalised: no punctuation, numbers in words). Scored with the token error rate
(PER / CER), greedy decoding.

Example::

    task = CTCTask("phones", {"frames": 768}, inventory="cmudict85")
    task.blank, task.encode(english_utt)[:3]
    # (85, [45, 53, 26])
    pred = task(enc_out)                  # {"log_probs": (N, T, 86), "lengths": (N,)}
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sertool.data.manifest import Utterance
from sertool.data.tokens import PHONE_INVENTORY_OF_LANGUAGE, characterise, get_inventory
from sertool.errors import SertoolError
from sertool.evaluation.metrics import WORD_SEPARATOR, token_error_rate, word_error_rate
from sertool.tasks.base import Task, register_task, require_input, sequence_lengths
from sertool.tasks.losses import CTC_REDUCTIONS, ctc_loss


@register_task
class CTCTask(Task):
    """Frame-level token posteriors trained with CTC; blank = ``inventory.blank``, else ``inventory.size``."""

    kind = "ctc"

    def __init__(self, name: str, in_dims: dict[str, int], inventory: str = "cmudict85", field: str = "phones",
                 input: str = "frames", reduction: str = "sum"):
        super().__init__(name)
        if reduction not in CTC_REDUCTIONS:
            raise SertoolError(f"task {name!r}: reduction must be one of {', '.join(CTC_REDUCTIONS)}, "
                               f"got {reduction!r}")
        self.reduction = reduction
        if field not in ("phones", "text"):
            raise SertoolError(f"task {name!r}: field must be phones or text, got {field!r}")
        if field == "text" and inventory != "char32":
            raise SertoolError(f"task {name!r}: field text is spelled with inventory char32, not {inventory!r}")
        self.inventory = get_inventory(inventory)
        self.field, self.input = field, input
        self.languages = {lang for lang, inv in PHONE_INVENTORY_OF_LANGUAGE.items() if inv == inventory}
        own_blank = self.inventory.blank
        self.blank = self.inventory.size if own_blank is None else own_blank
        self.head = nn.Linear(require_input(name, in_dims, input), self.inventory.size + int(own_blank is None))

    def encode(self, utt: Utterance) -> list[int] | None:
        if self.field == "text":
            if utt.text is None or utt.language != "en":
                return None
            tokens = characterise(utt.text).phones
        else:
            if utt.phones is None or utt.language not in self.languages:
                return None
            tokens = utt.phones
        if not tokens:
            return None
        try:
            return self.inventory.ids(tokens)
        except SertoolError as e:
            raise SertoolError(f"task {self.name!r}, utterance {utt.id}: {e}") from None

    def collate(self, labels: list[Any | None]) -> dict[str, torch.Tensor]:
        lengths = torch.tensor([0 if y is None else len(y) for y in labels], dtype=torch.long)
        tokens = torch.full((len(labels), max(1, int(lengths.max()))), -1, dtype=torch.long)  # (N, L), −1: padding
        for i, y in enumerate(labels):
            if y:
                tokens[i, : len(y)] = torch.tensor(y)
        return {"tokens": tokens, "token_lengths": lengths}

    def forward(self, enc_out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        log_probs = torch.log_softmax(self.head(enc_out[self.input]).float(), dim=-1)  # (N, T', V + 1)
        return {"log_probs": log_probs, "lengths": sequence_lengths(enc_out, self.input)}

    def loss(self, pred: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor | None:
        tokens = labels["tokens"].clamp(min=0)  # padding is cut by the lengths; ctc_loss wants ids ≥ 0
        return ctc_loss(pred["log_probs"], pred["lengths"], tokens, labels["token_lengths"], self.blank,
                        self.reduction)

    def references(self, labels: dict[str, torch.Tensor]) -> list[list[int] | None]:
        return [row[:n] if n else None for row, n in zip(labels["tokens"].tolist(), labels["token_lengths"].tolist())]

    def decode(self, pred: dict[str, torch.Tensor]) -> list[list[int]]:
        """Greedy CTC decoding: best token per frame, repeats merged, blanks removed."""
        best = pred["log_probs"].argmax(-1).tolist()  # (N, T')
        out = []
        for seq, n in zip(best, pred["lengths"].tolist()):
            tokens, prev = [], None
            for t in seq[:n]:
                if t != prev and t != self.blank:
                    tokens.append(t)
                prev = t
            out.append(tokens)
        return out

    def metrics(self, refs: list[list[int]], hyps: list[list[int]]) -> dict[str, float]:
        if self.field != "text":
            return {"per": token_error_rate(refs, hyps)}
        # characters: CER, and WER over the words between "|" separators ("ASR Acc = 1 − WER",
        # decomposed_speech_mtl.txt; ssl_mtl.txt §3.2)
        separator = self.inventory.ids([WORD_SEPARATOR])[0]
        return {"cer": token_error_rate(refs, hyps), "wer": word_error_rate(refs, hyps, separator)}

    def describe(self) -> dict[str, Any]:
        return {"inventory": self.inventory.name, "blank": self.blank}
