"""SpeechEQ's backbone: ECAPA-TDNN with a residual BiGRU inside each SE-Res2Block (speecheq.txt §2.3, §3.2).

ECAPA-TDNN (Desplanques et al. 2020): a TDNN layer (kernel 5), three SE-Res2Blocks (kernel 3,
dilations 2, 3, 4), multi-layer feature aggregation (the blocks' outputs concatenated, a 1×1
convolution), attentive statistics pooling and a fully connected embedding layer. SpeechEQ keeps
all of it and adds a residual bidirectional GRU ("Res-BiGRU") to every SE-Res2Block to widen the
receptive field; the paper's figure is not in the text we have, so the Res-BiGRU sits after the
SE block, before the block's residual sum: ``y = x + h + BiGRU(h)``, ``h = SE(Res2(x))``.
Settings of §3.2: ``channels`` C = 256, SE and attention bottlenecks 128, Res2 ``scale`` 8.
``res_bigru=False`` gives the original ECAPA-TDNN.

Padding never enters the result in eval mode: every layer's output is zeroed on padded frames
(so the next convolution sees the zeros it would see at the end of that sequence alone), the
GRUs run on packed sequences, and the SE means and the pooling are masked. Batch normalisation
statistics in training do include the padded (zero) frames, as in SpeechBrain's ECAPA-TDNN.

Example:
    >>> enc = ECAPATDNN(input_dim=80)
    >>> out = enc(feats=torch.randn(2, 300, 80), feats_lengths=torch.tensor([300, 180]))
    >>> out["pooled"].shape, out["frames"].shape, out["frame_lengths"].tolist()
    (torch.Size([2, 192]), torch.Size([2, 300, 768]), [300, 180])
"""

from __future__ import annotations

import torch
from torch import nn

from sertool.layers.masking import lengths_to_mask, masked_mean_std, run_packed
from sertool.layers.pooling import AttentiveStatisticsPooling
from sertool.models.registry import Encoder, register_encoder


class TDNNBlock(nn.Module):
    """Dilated 1-D convolution → ReLU → batch norm over ``(N, C, T)``; padded frames zeroed."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation,
                              padding=dilation * (kernel_size - 1) // 2)
        self.norm = nn.BatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.norm(torch.relu(self.conv(x))) * mask[:, None, :]  # (N, C_out, T)


class Res2Conv(nn.Module):
    """Res2Net's hierarchical convolution: ``scale`` channel groups, each fed the previous group's output."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, scale: int):
        super().__init__()
        if channels % scale:
            raise ValueError(f"channels ({channels}) must be divisible by the Res2 scale ({scale})")
        width = channels // scale
        self.blocks = nn.ModuleList(TDNNBlock(width, width, kernel_size, dilation) for _ in range(scale - 1))
        self.scale = scale

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(self.scale, dim=1)
        out = [chunks[0]]  # the first group passes through unchanged
        y = None
        for chunk, block in zip(chunks[1:], self.blocks):
            y = block(chunk if y is None else chunk + y, mask)
            out.append(y)
        return torch.cat(out, dim=1)  # (N, C, T)


class SqueezeExcitation(nn.Module):
    """Channel gates from the utterance's (masked) mean over time: ``x · σ(W₂ ReLU(W₁ mean(x)))``."""

    def __init__(self, channels: int, bottleneck: int = 128):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, bottleneck), nn.ReLU(),
                                nn.Linear(bottleneck, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mean, _ = masked_mean_std(x, mask)  # (N, C)
        return x * self.fc(mean)[..., None]


class ResBiGRU(nn.Module):
    """``h + BiGRU(h)`` with C/2 units each way, so the output keeps C channels."""

    def __init__(self, channels: int):
        super().__init__()
        self.gru = nn.GRU(channels, channels // 2, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return x + run_packed(self.gru, x.transpose(1, 2), lengths).transpose(1, 2)  # (N, C, T)


class SERes2Block(nn.Module):
    """1×1 TDNN → Res2 dilated convolution → 1×1 TDNN → SE → (Res-BiGRU) → + input."""

    def __init__(self, channels: int, kernel_size: int, dilation: int, scale: int, se_bottleneck: int,
                 res_bigru: bool):
        super().__init__()
        self.tdnn1 = TDNNBlock(channels, channels, 1)
        self.res2 = Res2Conv(channels, kernel_size, dilation, scale)
        self.tdnn2 = TDNNBlock(channels, channels, 1)
        self.se = SqueezeExcitation(channels, se_bottleneck)
        self.gru = ResBiGRU(channels) if res_bigru else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = self.se(self.tdnn2(self.res2(self.tdnn1(x, mask), mask), mask), mask)
        if self.gru is not None:
            h = self.gru(h, lengths)
        return x + h  # (N, C, T), zero on padded frames


@register_encoder("ecapa_tdnn")
class ECAPATDNN(Encoder):
    """ECAPA-TDNN with SpeechEQ's Res-BiGRU (defaults: speecheq.txt §3.2; 192-d embedding as in ECAPA)."""

    def __init__(
        self,
        input_dim: int = 80,
        channels: int = 256,
        kernel_sizes: tuple[int, ...] = (5, 3, 3, 3),
        dilations: tuple[int, ...] = (1, 2, 3, 4),
        scale: int = 8,
        se_bottleneck: int = 128,
        attn_bottleneck: int = 128,
        embed_dim: int = 192,
        res_bigru: bool = True,
    ):
        super().__init__()
        if len(kernel_sizes) != len(dilations) or len(kernel_sizes) < 2:
            raise ValueError("kernel_sizes and dilations need one entry per layer (first: the TDNN layer)")
        self.input_dim = input_dim
        self.layer1 = TDNNBlock(input_dim, channels, kernel_sizes[0], dilations[0])
        self.blocks = nn.ModuleList(
            SERes2Block(channels, k, d, scale, se_bottleneck, res_bigru)
            for k, d in zip(kernel_sizes[1:], dilations[1:])
        )
        mfa = channels * len(self.blocks)
        self.mfa = TDNNBlock(mfa, mfa, 1)
        self.pooling = AttentiveStatisticsPooling(mfa, attn_bottleneck)
        self.pool_norm = nn.BatchNorm1d(self.pooling.out_dim)
        self.fc = nn.Linear(self.pooling.out_dim, embed_dim)
        self.output_dims = {"pooled": embed_dim, "frames": mfa}

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.mfa.conv.parameters())  # feeds both the frames and the pooled embedding

    def forward(self, feats: torch.Tensor, feats_lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        lengths = feats_lengths.clamp(min=1)
        mask = lengths_to_mask(lengths, feats.shape[1])  # (N, T)
        x = self.layer1(feats.transpose(1, 2) * mask[:, None, :], mask)  # (N, C, T)
        outs = []
        for block in self.blocks:
            x = block(x, mask, lengths)
            outs.append(x)
        frames = self.mfa(torch.cat(outs, dim=1), mask)  # (N, 3C, T)
        pooled = self.fc(self.pool_norm(self.pooling(frames, mask)))  # (N, embed)
        return {"pooled": pooled, "frames": frames.transpose(1, 2), "frame_lengths": lengths}
