"""Random resampling inside a model: SpeechSplit's ``InterpLnr`` as a batched torch module.

decomposed_speech_mtl.txt §2.1–2.2 (after SpeechSplit, Qian et al. 2020): during training the
content and pitch encoders see their inputs, and each convolution block's output, cut into
segments whose lengths are drawn from ``segment`` (19–32 frames) and each stretched in time by its
own factor from ``factor`` (output/input length, [0.5, 1.5)), which destroys rhythm and speaking
rate. At evaluation the module is the identity.

Unlike SpeechSplit's released ``InterpLnr`` (``max_len_seq`` 128 frames of segments, output
padded or cut to ``max_len_pad`` 192), the segment plan is sized from the batch's real lengths,
so every frame of every utterance is covered whatever its length, and the new lengths are
returned. A segment of ``L`` frames becomes ``max(1, round(L · f))`` output frames sampled at the
centres of equal cells across it, linearly interpolated (the warp of the stored variants,
:mod:`sertool.features.random_resample`). One plan is drawn per call and applied to every tensor
passed, so content and pitch stay frame-aligned. The plan is a few ``(N, S, J)`` tensor operations
(``S`` segments, ``J`` ≤ 48 output frames per segment) and one gather per tensor: no Python loop
over segments or utterances.

Example:
    >>> rr = InterpLnr()
    >>> x = torch.arange(300.0).repeat(2, 1)[..., None]          # frame t holds the value t
    >>> (y, p), new = rr([x, 2 * x], torch.tensor([300, 250]))
    >>> y.shape[0], bool(torch.equal(p, 2 * y)), new.shape        # one plan for both tensors
    (2, True, torch.Size([2]))
    >>> bool((y[0, 1:new[0]] - y[0, :new[0] - 1] >= -1e-4).all())   # time order kept
    True
    >>> (same,), n = rr.eval()([x], torch.tensor([300, 250]))
    >>> same is x, n.tolist()
    (True, [300, 250])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from sertool.errors import SertoolError


@dataclass
class ResamplePlan:
    """Where each output frame reads: frames ``lo``/``hi`` ``(N, T')`` mixed by weight ``w`` ``(N, T', 1)``;
    ``lengths`` ``(N,)`` the new lengths (frames past them are zero)."""

    lo: torch.Tensor
    hi: torch.Tensor
    w: torch.Tensor
    lengths: torch.Tensor

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, T, C)`` resampled to ``(N, T', C)``."""
        c = x.shape[-1]
        lo = torch.gather(x, 1, self.lo[..., None].expand(-1, -1, c))
        hi = torch.gather(x, 1, self.hi[..., None].expand(-1, -1, c))
        w = self.w.to(x.dtype)
        return lo + (hi - lo) * w


def draw_plan(lengths: torch.Tensor, segment: tuple[int, int] = (19, 32),
              factor: tuple[float, float] = (0.5, 1.5), generator: torch.Generator | None = None) -> ResamplePlan:
    """One random warp of each sequence of ``lengths`` ``(N,)`` (see the module docstring).

    Example:
        >>> plan = draw_plan(torch.tensor([500, 7]), generator=torch.Generator().manual_seed(0))
        >>> int(plan.lo[0, plan.lengths[0] - 1]), int(plan.hi[1, plan.lengths[1] - 1])   # both run to the end
        (499, 6)
    """
    device = lengths.device
    lengths = lengths.long().clamp(min=1)
    n, t_max = lengths.shape[0], int(lengths.max())
    s = t_max // segment[0] + 1  # enough segments to cover the longest sequence
    j = max(1, round(segment[1] * factor[1]))  # the most output frames one segment can give
    seg = torch.randint(segment[0], segment[1] + 1, (n, s), device=device, generator=generator)
    f = torch.rand((n, s), device=device, generator=generator) * (factor[1] - factor[0]) + factor[0]
    start = torch.cumsum(seg, 1) - seg  # (N, S) first frame of each segment
    length = torch.minimum(seg, (lengths[:, None] - start).clamp(min=0))  # the last segment ends at the sequence's end
    out = torch.where(length > 0, torch.round(length * f).long().clamp(min=1), torch.zeros_like(length))
    k = torch.arange(j, device=device)  # (J,)
    keep = k[None, None, :] < out[..., None]  # (N, S, J)
    cell = length / out.clamp(min=1)  # source frames per output frame
    pos = start[..., None] + (k[None, None, :] + 0.5) * cell[..., None] - 0.5
    pos = torch.minimum(pos.clamp(min=0).maximum(start[..., None].to(pos.dtype)), (start + length - 1)[..., None])
    keep = keep.flatten(1)  # (N, S·J), in time order
    pos = pos.flatten(1)
    new_lengths = keep.sum(1)
    slot = torch.cumsum(keep, 1) - 1  # output frame of each kept cell
    t_out = int(new_lengths.max())
    flat = (torch.arange(n, device=device)[:, None] * t_out + slot)[keep]
    src = torch.zeros(n * t_out, device=device, dtype=pos.dtype)
    src[flat] = pos[keep]
    src = src.view(n, t_out)
    lo = src.floor().long()
    hi = torch.minimum(lo + 1, (lengths - 1)[:, None])
    valid = torch.arange(t_out, device=device)[None, :] < new_lengths[:, None]
    w = ((src - lo) * valid)[..., None]
    return ResamplePlan(lo, hi, w, new_lengths)


class InterpLnr(nn.Module):
    """Random resampling of ``(N, T, C)`` tensors in training, identity in eval (module docstring)."""

    def __init__(self, segment: tuple[int, int] | list[int] = (19, 32),
                 factor: tuple[float, float] | list[float] = (0.5, 1.5)):
        super().__init__()
        segment, factor = tuple(int(v) for v in segment), tuple(float(v) for v in factor)
        if len(segment) != 2 or not 1 <= segment[0] <= segment[1]:
            raise SertoolError(f"random resampling: segment must be [min, max] frames, 1 ≤ min ≤ max, got {segment}")
        if len(factor) != 2 or not 0 < factor[0] <= factor[1]:
            raise SertoolError(f"random resampling: factor must be [min, max] with 0 < min ≤ max, got {factor}")
        self.segment, self.factor = segment, factor

    def forward(self, xs: list[torch.Tensor], lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Every tensor of ``xs`` warped by one plan drawn for ``lengths``; the new lengths."""
        if not self.training:
            return list(xs), lengths
        plan = draw_plan(lengths, self.segment, self.factor)
        mask = (torch.arange(plan.lo.shape[1], device=lengths.device)[None, :] < plan.lengths[:, None])[..., None]
        return [plan.apply(x) * mask.to(x.dtype) for x in xs], plan.lengths

    def extra_repr(self) -> str:
        return f"segment={list(self.segment)}, factor={list(self.factor)}"
