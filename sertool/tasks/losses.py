"""Loss functions of the tasks, each over the items of a batch that carry a label.

- :func:`focal_loss`: ``−(1 − p_t)^γ log p_t`` (Lin et al. 2017; speecheq.txt eq. 2, γ = 10);
  γ = 0 is the cross-entropy.
- :func:`ccc_loss`: ``1 − CCC`` (speecheq.txt eq. 3) with the label-ignore mechanism of Algorithm 1.
- :func:`ctc_loss`: CTC over frame outputs, −ln P(y | x) averaged over utterances (speecheq.txt
  eq. 1, ssl_mtl.txt §2.3).
- :func:`masked_mse`: mean squared error over valid frames (decomposed_speech_mtl.txt eq. 3).

Every function returns None when no item carries a label, so the batch skips that task.

Example:
    >>> _ = torch.manual_seed(0)
    >>> logits, target = torch.randn(4, 3), torch.tensor([0, 2, IGNORE_INDEX, 1])
    >>> ce = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    >>> torch.allclose(focal_loss(logits, target, gamma=0.0), ce)
    True
    >>> bool(focal_loss(logits, target, gamma=2.0) < focal_loss(logits, target))   # easy items weigh less
    True
    >>> focal_loss(logits, torch.full((4,), IGNORE_INDEX)) is None     # no labelled item: task skipped
    True
    >>> round(float(ccc_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.5]))), 4)   # 1 − 0.952
    0.0476
    >>> abs(float(ccc_loss(torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1.0, 2.0, IGNORE_EIS])))) < 1e-6
    True
    >>> pred, target = torch.zeros(1, 3, 2), torch.tensor([[[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]]])
    >>> masked_mse(pred, target, torch.tensor([[True, True, False]]))   # frame 3 is padding
    tensor(3.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100  # class target of an item without a label
IGNORE_EIS = -1.0  # intensity target of an item without a label (the manifest's ``eis`` = −1)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 0.0,
               class_weights: torch.Tensor | None = None, count: int | None = None) -> torch.Tensor | None:
    """Focal loss of ``logits`` ``(N, K)`` over the items whose ``target`` ``(N,)`` is not ignored.

    ``class_weights`` ``(K,)`` multiplies each item's loss by its class's weight; the sum is divided
    by the number of labelled items, or by ``count`` when more items take part with a zero loss.
    """
    valid = target != IGNORE_INDEX
    if not valid.any():
        return None
    logp = torch.log_softmax(logits[valid].float(), dim=-1)  # (M, K)
    logp_t = logp.gather(1, target[valid][:, None])[:, 0]  # (M,)
    item = -logp_t if gamma == 0 else -(1 - logp_t.exp()).clamp(min=0) ** gamma * logp_t
    if class_weights is not None:
        item = item * class_weights[target[valid]]
    return item.sum() / (count or int(valid.sum()))


def concordance(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Lin's CCC of two ``(N,)`` vectors (population moments, as :func:`~sertool.evaluation.metrics.concordance_cc`)."""
    mx, my = x.mean(), y.mean()
    cov = ((x - mx) * (y - my)).mean()
    return 2 * cov / (x.var(unbiased=False) + y.var(unbiased=False) + (mx - my) ** 2 + eps)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, low: float = 0.0, high: float = 4.0) -> torch.Tensor | None:
    """``1 − CCC(ŷ, y)`` over a batch ``(N,)``, with speecheq.txt Algorithm 1's label-ignore mechanism.

    Items whose label is the ignore value (any ``y < 0``) get the prediction itself, clipped into
    ``[low, high]``, as their label, so they carry (almost) no error; they still enter the batch
    moments as in Algorithm 1, but through a stopped gradient, so a masked item's prediction
    receives exactly zero gradient.
    """
    valid = target >= 0
    if not valid.any():
        return None
    p = pred.float()
    y = torch.where(valid, target.float(), p.detach().clamp(low, high))
    x = torch.where(valid, p, p.detach())
    return 1 - concordance(x, y)


CTC_REDUCTIONS = ("sum", "token_mean")


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor, token_lengths: torch.Tensor,
             blank: int, reduction: str = "sum") -> torch.Tensor | None:
    """CTC of frame log-probabilities ``(N, T, V)`` against padded ``tokens`` ``(N, L)``.

    ``reduction``: ``sum``, each utterance's −ln P(y | x) averaged over the batch (ssl_mtl.txt
    §2.3's formula; it grows with the transcript's length), or ``token_mean``, each utterance's
    loss divided by its number of tokens, then averaged (PyTorch's ``mean``; on the scale of a
    per-frame classification loss). Items with ``token_lengths == 0`` carry no transcript and are
    left out. Utterances too short for their transcript (infinite loss) count as zero instead of
    poisoning the batch.

    Example:
        >>> lp = torch.log_softmax(torch.zeros(2, 6, 4), dim=-1)   # uniform over 3 tokens + blank
        >>> tokens, n = torch.tensor([[1, 2, 0], [1, 0, 0]]), torch.tensor([3, 1])
        >>> s = ctc_loss(lp, torch.tensor([6, 6]), tokens, n, blank=3)
        >>> m = ctc_loss(lp, torch.tensor([6, 6]), tokens, n, blank=3, reduction="token_mean")
        >>> per_utt = [float(ctc_loss(lp[i:i + 1], torch.tensor([6]), tokens[i:i + 1], n[i:i + 1], blank=3))
        ...            for i in range(2)]
        >>> abs(float(s) - sum(per_utt) / 2) < 1e-5, abs(float(m) - (per_utt[0] / 3 + per_utt[1]) / 2) < 1e-5
        (True, True)
    """
    if reduction not in CTC_REDUCTIONS:
        raise ValueError(f"CTC reduction must be one of {CTC_REDUCTIONS}, got {reduction!r}")
    valid = token_lengths > 0
    if not valid.any():
        return None
    lp = log_probs[valid].float().transpose(0, 1)  # (T, M, V), the layout ctc_loss wants
    tl = token_lengths[valid]
    targets = tokens[valid][:, : int(tl.max())]
    per_utt = F.ctc_loss(lp, targets, lengths[valid], tl, blank=blank, reduction="none", zero_infinity=True)
    if reduction == "token_mean":
        per_utt = per_utt / tl.float()
    return per_utt.sum() / int(valid.sum())


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor | None:
    """Mean squared error of ``(N, T, D)`` tensors over the frames where ``mask`` ``(N, T)``."""
    if not mask.any():
        return None
    sq = ((pred.float() - target.float()) ** 2).mean(-1)  # (N, T)
    return sq[mask].mean()
