"""Padding helpers shared by encoders and heads: masks from lengths, edge replication, masked
softmax and statistics, and recurrent layers run on packed sequences (or, where packing cannot
go, as an ONNX graph, by masking: :func:`run_masked`).

Example:
    >>> lengths_to_mask(torch.tensor([3, 1]))
    tensor([[ True,  True,  True],
            [ True, False, False]])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sertool.layers.recurrent import gru_scan, scan_applies


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
    While a model is exported to ONNX (:func:`torch.onnx.is_in_onnx_export`), which has no packed
    sequences, the same is computed by :func:`run_masked`; a GRU training on a CPU runs as
    :func:`~sertool.layers.recurrent.gru_scan` (the same result, about twice as fast).
    """
    if torch.onnx.is_in_onnx_export():
        return run_masked(rnn, x, lengths)
    if scan_applies(rnn, x):
        return gru_scan(rnn, x, lengths)
    packed = pack_padded_sequence(x, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=x.shape[1])
    return out


def run_masked(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What :func:`run_packed` computes, without packing: plain tensor operations an ONNX graph can hold.

    A one-layer recurrent layer (``num_layers == 1``; sertool's encoders stack one module per
    layer) runs forwards on the batch as it is (each sequence starts at step 0, so its valid steps
    never see padding) and, when bidirectional, backwards on the batch right-aligned (each
    sequence shifted to end at the last step, so the backward pass starts on its own last frame);
    the backward outputs are shifted back and padded steps zeroed. Each sequence's result is the
    one it gets alone, at twice the work of packing.

    Example:
        >>> lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
        >>> x, lengths = torch.randn(3, 6, 3), torch.tensor([6, 4, 1])
        >>> torch.allclose(run_masked(lstm, x, lengths), run_packed(lstm, x, lengths), atol=1e-6)
        True
    """
    if rnn.num_layers != 1 or not rnn.batch_first:
        raise ValueError("run_masked needs a one-layer, batch-first recurrent layer")
    lengths = lengths.clamp(min=1)
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    out = rnn(x)[0]  # (N, T, H · directions)
    if rnn.bidirectional:
        half = out.shape[-1] // 2
        shift = x.shape[1] - lengths[:, None]  # (N, 1): steps each sequence moves right
        src = (steps - shift).clamp(min=0)  # right-aligned step s holds step s - shift
        shifted = torch.gather(x, 1, src[..., None].expand(-1, -1, x.shape[2]))
        shifted = shifted * (steps >= shift)[..., None].to(x.dtype)
        back = rnn(shifted)[0][..., half:]
        dst = (steps + shift).clamp(max=x.shape[1] - 1)  # and back to the left
        back = torch.gather(back, 1, dst[..., None].expand(-1, -1, back.shape[2]))
        out = torch.cat([out[..., :half], back], dim=-1)
    return out * (steps < lengths[:, None])[..., None].to(out.dtype)
