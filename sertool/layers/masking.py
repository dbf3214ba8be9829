"""Padding helpers shared by encoders and heads: masks from lengths, edge replication, masked
softmax and statistics, and recurrent layers run on packed sequences.

Example:
    >>> lengths_to_mask(torch.tensor([3, 1]))
    tensor([[ True,  True,  True],
            [ True, False, False]])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean mask ``(N, T)``, True on valid frames."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def replicate_last_frame(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Fill each sequence's padding with its last valid frame: ``(N, T, C)`` → ``(N, T, C)``.

    With this, a convolution with replicate padding sees every sequence edge-replicated at
    its own end, exactly as if it had been run on that sequence alone.
    """
    n, t, _ = x.shape
    idx = torch.minimum(torch.arange(t, device=x.device)[None, :], (lengths - 1).clamp(min=0)[:, None])  # (N, T)
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over ``dim`` with masked-out positions given exactly zero weight."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=dim) * mask


def masked_mean_std(x: torch.Tensor, mask: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over time of ``x`` ``(N, C, T)`` on the frames where ``mask`` ``(N, T)``.

    Example:
        >>> m, s = masked_mean_std(torch.tensor([[[1., 3., 100.]]]), torch.tensor([[True, True, False]]))
        >>> m.tolist(), round(float(s), 3)
        ([[2.0]], 1.0)
    """
    w = mask[:, None, :].to(x.dtype)  # (N, 1, T)
    count = w.sum(-1).clamp(min=1)  # (N, 1)
    mean = (x * w).sum(-1) / count  # (N, C)
    var = (((x - mean[..., None]) ** 2) * w).sum(-1) / count
    return mean, var.clamp(min=eps).sqrt()


def run_packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a batch-first recurrent layer on ``x`` ``(N, T, C)`` as packed sequences.

    Padded steps never reach the state of a valid one, and come out as zeros: ``(N, T, H)``.
    """
    packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])
    return out
