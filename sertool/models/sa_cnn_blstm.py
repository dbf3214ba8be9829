"""The self-attentional CNN-BLSTM of sa_cnn_blstm.txt (§4.2, Table 1).

Two 1-D convolutions over time (``d_cnn`` = 64 filters, window ``n_cw`` = 3, stride 1, input
edge-replicated, ReLU), temporal max-pooling over ``n_pw`` = 3 outputs, two BLSTM layers of
``d_lstm`` = 60 units each followed by dropout 0.5, and structured self-attention with
``n_attn`` = 8 heads of hidden size ``d_attn`` = 512 whose weighted sums are concatenated into
an utterance vector of ``2 · n_attn · d_lstm`` = 960 dimensions. Padding never enters the
result: convolutions see each sequence edge-replicated at its own end, the BLSTMs run on
packed sequences, and attention gives padded steps zero weight.

Example:
    >>> enc = SACNNBLSTM(input_dim=384)
    >>> out = enc(torch.randn(2, 120, 384), torch.tensor([120, 70]))
    >>> out["pooled"].shape, out["frames"].shape, out["frame_lengths"].tolist()
    (torch.Size([2, 960]), torch.Size([2, 40, 120]), [40, 23])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sertool.models.masking import lengths_to_mask, masked_softmax, replicate_last_frame
from sertool.models.registry import register_encoder


class StructuredSelfAttention(nn.Module):
    """Lin et al.'s structured self-attention: ``A = softmax(W_s2 tanh(W_s1 Hᵀ))``, ``z = ⊕_j A_j H``.

    Example:
        >>> att = StructuredSelfAttention(in_dim=120, attn_dim=512, heads=8)
        >>> z, a = att(torch.randn(2, 40, 120), torch.ones(2, 40, dtype=torch.bool))
        >>> z.shape, a.shape
        (torch.Size([2, 960]), torch.Size([2, 8, 40]))
    """

    def __init__(self, in_dim: int, attn_dim: int = 512, heads: int = 8):
        super().__init__()
        self.w_s1 = nn.Linear(in_dim, attn_dim, bias=False)
        self.w_s2 = nn.Linear(attn_dim, heads, bias=False)
        self.out_dim = in_dim * heads

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.w_s2(torch.tanh(self.w_s1(h))).transpose(1, 2)  # (N, heads, T)
        attn = masked_softmax(scores, mask[:, None, :], dim=-1)  # (N, heads, T)
        z = torch.bmm(attn, h)  # (N, heads, C)
        return z.flatten(1), attn  # (N, heads·C), (N, heads, T)


@register_encoder("sa_cnn_blstm")
class SACNNBLSTM(nn.Module):
    """Self-attentional CNN-BLSTM encoder (defaults: the paper's Table 1)."""

    def __init__(
        self,
        input_dim: int = 384,
        cnn_channels: int = 64,
        cnn_layers: int = 2,
        kernel_size: int = 3,
        pool_size: int = 3,
        lstm_units: int = 60,
        lstm_layers: int = 2,
        dropout: float = 0.5,
        attn_dim: int = 512,
        attn_heads: int = 8,
    ):
        super().__init__()
        self.pool_size = pool_size
        self.kernel_size = kernel_size
        self.convs = nn.ModuleList(
            nn.Conv1d(input_dim if i == 0 else cnn_channels, cnn_channels, kernel_size,
                      padding=kernel_size // 2, padding_mode="replicate")
            for i in range(cnn_layers)
        )
        self.pool = nn.MaxPool1d(pool_size)
        self.lstms = nn.ModuleList(
            nn.LSTM(cnn_channels if i == 0 else 2 * lstm_units, lstm_units, batch_first=True, bidirectional=True)
            for i in range(lstm_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.attention = StructuredSelfAttention(2 * lstm_units, attn_dim, attn_heads)
        self.output_dims = {"pooled": self.attention.out_dim, "frames": 2 * lstm_units}

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        x = feats  # (N, T, D)
        if x.shape[1] < self.pool_size:  # pooling needs at least one full window
            lengths = lengths.clamp(min=1)
            x = replicate_last_frame(torch.nn.functional.pad(x, (0, 0, 0, self.pool_size - x.shape[1])), lengths)
        for conv in self.convs:
            x = replicate_last_frame(x, lengths)
            x = torch.relu(conv(x.transpose(1, 2))).transpose(1, 2)  # (N, T, C)
        x = self.pool(x.transpose(1, 2)).transpose(1, 2)  # (N, T // pool, C)
        frame_lengths = (lengths // self.pool_size).clamp(min=1)
        for lstm in self.lstms:
            packed = pack_padded_sequence(x, frame_lengths.cpu(), batch_first=True, enforce_sorted=False)
            x, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])
            x = self.dropout(x)  # (N, T', 2·units)
        mask = lengths_to_mask(frame_lengths, x.shape[1])
        pooled, attn = self.attention(x, mask)
        return {"pooled": pooled, "frames": x, "frame_lengths": frame_lengths, "attention": attn}
