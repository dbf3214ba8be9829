"""The BLSTM with multi-head self-attention of selective_mtl.txt (§2.1, §4.2, Table 2).

Stacked BLSTM layers (``d_LSTM`` = 256 cells each way, dropout 0.2 after each layer), one
structured self-attention layer with ``n_Head`` = 8 heads of ``d_Att`` = 512 nodes whose weighted
sums are concatenated (eq. 1–2: 8 × 512 = 4096), then fully connected ReLU layers FC1 = 4096 and
FC2 = 1024. Each head has its own ``W_1,i`` and ``ω_2,i`` (eq. 1: ``α_i = softmax(ω_2,i
tanh(W_1,i Hᵀ))``), unlike the SA-CNN-BLSTM's shared ``W_s1``; ``attn_shared_w1: true`` shares
it. The paper does not say how many BLSTM layers it stacks nor where its tasks branch: here two
layers (as in Li et al. 2019, its reference [15]), and FC1/FC2 are shared, so each task
adds only its own output layer (the "FC for this task" of Fig. 1). The paper cuts and zero-pads
every input to 7.5 s; that is ``data.max_seconds: 7.5`` with ``data.pad_to_max: true``.

GradNorm's shared layer (:meth:`BLSTMAttention.shared_parameters`) is FC2, the last layer the
emotion and style heads (both on ``pooled``) share; a head reading ``frames`` does not pass it.

Example:
    >>> enc = BLSTMAttention(input_dim=40)
    >>> out = enc(feats=torch.randn(2, 120, 40), feats_lengths=torch.tensor([120, 70]))
    >>> out["pooled"].shape, out["frames"].shape, out["frame_lengths"].tolist()
    (torch.Size([2, 1024]), torch.Size([2, 120, 512]), [120, 70])
"""

from __future__ import annotations

import torch
from torch import nn

from sertool.layers.masking import lengths_to_mask, run_packed
from sertool.layers.pooling import StructuredSelfAttention
from sertool.models.registry import Encoder, register_encoder


@register_encoder("blstm_attention")
class BLSTMAttention(Encoder):
    """BLSTM → multi-head self-attention → FC layers (defaults: selective_mtl.txt Table 2)."""

    def __init__(
        self,
        input_dim: int = 40,
        lstm_units: int = 256,
        lstm_layers: int = 2,
        dropout: float = 0.2,
        attn_dim: int = 512,
        attn_heads: int = 8,
        fc_dims: tuple[int, ...] = (4096, 1024),
        attn_shared_w1: bool = False,
    ):
        super().__init__()
        self.input_dim = input_dim
        self.lstms = nn.ModuleList(
            nn.LSTM(input_dim if i == 0 else 2 * lstm_units, lstm_units, batch_first=True, bidirectional=True)
            for i in range(lstm_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.attention = StructuredSelfAttention(2 * lstm_units, attn_dim, attn_heads, shared_w1=attn_shared_w1)
        layers: list[nn.Module] = []
        dim = self.attention.out_dim
        for d in fc_dims:
            layers += [nn.Linear(dim, d), nn.ReLU()]
            dim = d
        self.fc = nn.Sequential(*layers)
        self.output_dims = {"pooled": dim, "frames": 2 * lstm_units}

    def shared_parameters(self) -> list[nn.Parameter]:
        """FC2, the last layer every ``pooled`` head shares (the attention without FC layers)."""
        linears = [m for m in self.fc if isinstance(m, nn.Linear)]
        return list((linears[-1] if linears else self.attention).parameters())

    def forward(self, feats: torch.Tensor, feats_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = feats_lengths.clamp(min=1)
        x = feats  # (N, T, D)
        for lstm in self.lstms:
            x = self.dropout(run_packed(lstm, x, lengths))  # (N, T, 2·units)
        pooled, attn = self.attention(x, lengths_to_mask(lengths, x.shape[1]))  # (N, heads·2·units)
        return {"pooled": self.fc(pooled), "frames": x, "frame_lengths": lengths, "attention": attn}
