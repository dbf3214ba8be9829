"""Pooling a sequence of frame states into one utterance vector, with padding masked out.

- :class:`StructuredSelfAttention`: Lin et al.'s multi-head self-attentive pooling, used by the
  SA-CNN-BLSTM (sa_cnn_blstm.txt eq. 5–7: one ``W_s1`` shared by the heads) and by the
  selective-MTL BLSTM (selective_mtl.txt eq. 1–2: a ``W_1,i`` per head, ``shared_w1=False``).
- :class:`AttentiveStatisticsPooling`: ECAPA-TDNN's channel- and context-dependent attentive
  statistics pooling (weighted mean and standard deviation), used by SpeechEQ's backbone.

Example:
    >>> att = StructuredSelfAttention(in_dim=120, attn_dim=512, heads=8)
    >>> z, a = att(torch.randn(2, 40, 120), torch.ones(2, 40, dtype=torch.bool))
    >>> z.shape, a.shape
    (torch.Size([2, 960]), torch.Size([2, 8, 40]))
    >>> per_head = StructuredSelfAttention(in_dim=120, attn_dim=512, heads=8, shared_w1=False)
    >>> per_head.w_s1.weight.shape, per_head.w_s2.shape       # W_1,i stacked; ω_2,i one row per head
    (torch.Size([4096, 120]), torch.Size([8, 512]))
    >>> asp = AttentiveStatisticsPooling(channels=768, bottleneck=128)
    >>> asp(torch.randn(2, 768, 50), torch.ones(2, 50, dtype=torch.bool)).shape
    torch.Size([2, 1536])
"""

from __future__ import annotations

import torch
from torch import nn

from sertool.layers.masking import masked_mean_std, masked_softmax


class StructuredSelfAttention(nn.Module):
    """``a_j = softmax(w_s2,j tanh(W_s1 Hᵀ))``, ``z = ⊕_j a_j H`` over ``H`` ``(N, T, C)``.

    ``shared_w1`` (default): one ``W_s1`` (``attn_dim × C``) for every head, which differ only by
    their ``w_s2,j`` (sa_cnn_blstm.txt eq. 7, Lin et al.); ``w_s1`` is ``Linear(C, attn_dim)``
    and ``w_s2`` ``Linear(attn_dim, heads)``. ``shared_w1=False``: head ``i`` has its own
    ``W_1,i`` (selective_mtl.txt eq. 1, ``α_i = softmax(ω_2,i tanh(W_1,i Hᵀ))``); ``w_s1`` is
    ``Linear(C, heads · attn_dim)`` whose ``i``-th block of ``attn_dim`` rows is ``W_1,i``, and
    ``w_s2`` a ``(heads, attn_dim)`` parameter whose row ``i`` is ``ω_2,i``.
    """

    def __init__(self, in_dim: int, attn_dim: int = 512, heads: int = 8, shared_w1: bool = True):
        super().__init__()
        self.shared_w1, self.heads, self.attn_dim = shared_w1, heads, attn_dim
        if shared_w1:
            self.w_s1 = nn.Linear(in_dim, attn_dim, bias=False)
            self.w_s2 = nn.Linear(attn_dim, heads, bias=False)
        else:
            self.w_s1 = nn.Linear(in_dim, heads * attn_dim, bias=False)
            bound = attn_dim ** -0.5  # nn.Linear's initialisation of a (heads, attn_dim) weight
            self.w_s2 = nn.Parameter(torch.empty(heads, attn_dim).uniform_(-bound, bound))
        self.out_dim = in_dim * heads

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.shared_w1:
            scores = self.w_s2(torch.tanh(self.w_s1(h))).transpose(1, 2)  # (N, heads, T)
        else:
            hidden = torch.tanh(self.w_s1(h)).unflatten(-1, (self.heads, self.attn_dim))  # (N, T, heads, attn)
            scores = torch.einsum("nthd,hd->nht", hidden, self.w_s2)  # (N, heads, T)
        attn = masked_softmax(scores, mask[:, None, :], dim=-1)  # (N, heads, T)
        z = torch.bmm(attn, h)  # (N, heads, C)
        return z.flatten(1), attn  # (N, heads·C), (N, heads, T)


class AttentiveStatisticsPooling(nn.Module):
    """Attentive mean and std over ``x`` ``(N, C, T)`` → ``(N, 2C)`` (Desplanques et al. 2020, §3.3).

    The attention sees each frame together with the utterance's global mean and std (the
    "context-dependent" variant) and gives each channel its own weights over time.
    """

    def __init__(self, channels: int, bottleneck: int = 128):
        super().__init__()
        self.attention = nn.Sequential(
            nn.Conv1d(3 * channels, bottleneck, 1), nn.ReLU(), nn.BatchNorm1d(bottleneck), nn.Tanh(),
            nn.Conv1d(bottleneck, channels, 1),
        )
        self.out_dim = 2 * channels

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        t = x.shape[-1]
        mean, std = masked_mean_std(x, mask)  # (N, C) each
        context = torch.cat([x, mean[..., None].expand(-1, -1, t), std[..., None].expand(-1, -1, t)], dim=1)
        alpha = masked_softmax(self.attention(context), mask[:, None, :], dim=-1)  # (N, C, T)
        mu = (alpha * x).sum(-1)  # (N, C)
        sigma = ((alpha * x * x).sum(-1) - mu * mu).clamp(min=1e-5).sqrt()
        return torch.cat([mu, sigma], dim=1)  # (N, 2C)
