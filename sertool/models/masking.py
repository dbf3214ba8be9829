"""Padding helpers shared by encoders: masks from lengths, edge replication, masked softmax.

Example:
    >>> lengths_to_mask(torch.tensor([3, 1]))
    tensor([[ True,  True,  True],
            [ True, False, False]])
"""

from __future__ import annotations

import torch


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
