"""The self-attentional CNN-BLSTM of sa_cnn_blstm.txt (§4.2, Table 1).

Two 1-D convolutions over time (``d_cnn`` = 64 filters, window ``n_cw`` = 3, stride 1, input
edge-replicated, ReLU), temporal max-pooling over ``n_pw`` = 3 outputs, two BLSTM layers of
``d_lstm`` = 60 units each followed by dropout 0.5, and structured self-attention with
``n_attn`` = 8 heads of hidden size ``d_attn`` = 512 whose weighted sums are concatenated into
an utterance vector of ``2 · n_attn · d_lstm`` = 960 dimensions. The heads share ``W_s1`` and
differ by their ``w_s2,j`` (eq. 7: "``n_attn`` different ``w_s2``s"); ``attn_shared_w1: false``
gives each its own. Padding never enters the
result: convolutions see each sequence edge-replicated at its own end, the BLSTMs run on
packed sequences, and attention gives padded steps zero weight.

Example:
    >>> enc = SACNNBLSTM(input_dim=384)
    >>> out = enc(feats=torch.randn(2, 120, 384), feats_lengths=torch.tensor([120, 70]))
    >>> out["pooled"].shape, out["frames"].shape, out["frame_lengths"].tolist()
    (torch.Size([2, 960]), torch.Size([2, 40, 120]), [40, 23])
"""

from __future__ import annotations

import torch
from torch import nn

from sertool.layers.masking import lengths_to_mask, replicate_last_frame, run_packed
from sertool.layers.pooling import StructuredSelfAttention
from sertool.models.registry import Encoder, register_encoder


@register_encoder("sa_cnn_blstm")
class SACNNBLSTM(Encoder):
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
        attn_shared_w1: bool = True,
    ):
        super().__init__()
        self.input_dim = input_dim
        self.pool_size = pool_size
        self.frame_stride = pool_size
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
        self.attention = StructuredSelfAttention(2 * lstm_units, attn_dim, attn_heads, shared_w1=attn_shared_w1)
        self.output_dims = {"pooled": self.attention.out_dim, "frames": 2 * lstm_units}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.lstms[-1].parameters())  # feeds both the frames and the attention

    def forward(self, feats: torch.Tensor, feats_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        x, lengths = feats, feats_lengths  # (N, T, D), (N,)
        if x.shape[1] < self.pool_size:  # pooling needs at least one full window
            lengths = lengths.clamp(min=1)
            x = replicate_last_frame(torch.nn.functional.pad(x, (0, 0, 0, self.pool_size - x.shape[1])), lengths)
        for conv in self.convs:
            x = replicate_last_frame(x, lengths)
            x = torch.relu(conv(x.transpose(1, 2))).transpose(1, 2)  # (N, T, C)
        x = self.pool(x.transpose(1, 2)).transpose(1, 2)  # (N, T // pool, C)
        frame_lengths = (lengths // self.pool_size).clamp(min=1)
        for lstm in self.lstms:
            x = self.dropout(run_packed(lstm, x, frame_lengths))  # (N, T', 2·units)
        mask = lengths_to_mask(frame_lengths, x.shape[1])
        pooled, attn = self.attention(x, mask)
        return {"pooled": pooled, "frames": x, "frame_lengths": frame_lengths, "attention": attn}
