"""A GRU scan for training on CPUs: the same layer as ``nn.GRU``, its backward written by hand.

On a CPU, autograd differentiates ``nn.GRU`` step by step through the generic cell graph: with
the small layers of SpeechEQ's Res-BiGRU (24 units each way in the synthetic recipe) the backward
pass costs about six times the forward, and the three GRUs take most of a training step.
:func:`gru_scan` computes what :func:`~sertool.layers.masking.run_packed` computes for a one-layer
``nn.GRU`` (its own parameters, PyTorch's gate equations), with

- the input projections of every step and both directions as one matrix product before the scan,
  and their gradients as one after it;
- both directions in one batched recurrence: the backward direction runs forwards on each
  sequence reversed within its own length, so every sequence starts on its own last frame and its
  padded steps come after its valid ones (they never reach a valid state, and are zeroed);
- a backward pass of a dozen element-wise operations and one batched product per step, and the
  recurrent weights' gradient as one product over all steps.

Outputs and gradients equal ``nn.GRU``'s on packed sequences to float rounding (tests: float64
gradcheck, and against ``nn.GRU`` on ragged batches). It is used where it pays off: training on
a CPU (:func:`scan_applies`); inference, exports and CUDA (cuDNN) keep ``nn.GRU``.

Example:
    >>> gru = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    >>> x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 2])
    >>> out = gru_scan(gru, x, lengths)
    >>> out.shape, bool(out[1, 2:].abs().sum() == 0)
    (torch.Size([2, 5, 8]), True)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable


def reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` ``(N, T, C)`` within its own length; padding stays in place.

    Its own inverse. Example:
        >>> reverse_within(torch.arange(4.).view(1, 4, 1).repeat(2, 1, 1), torch.tensor([4, 2]))[..., 0]
        tensor([[3., 2., 1., 0.],
                [1., 0., 2., 3.]])
    """
    steps = torch.arange(x.shape[1], device=x.device)[None, :]  # (1, T)
    last = lengths.to(x.device)[:, None] - 1  # (N, 1)
    idx = torch.where(steps <= last, last - steps, steps)  # (N, T)
    return torch.gather(x, 1, idx[..., None].expand(-1, -1, x.shape[2]))


class _GRUScan(torch.autograd.Function):
    """The recurrence of D one-layer GRUs side by side, from precomputed input projections.

    ``gi`` ``(T, D, N, 3H)``: ``W_ih x_t + b_ih`` (gates r, z, n as in ``nn.GRU``); ``w_hh``
    ``(D, 3H, H)``; ``b_hh`` ``(D, 3H)``. Returns the states ``(T, D, N, H)``, starting from zero.
    """

    @staticmethod
    def forward(ctx: Any, gi: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor) -> torch.Tensor:
        steps, d, n, h3 = gi.shape
        h = h3 // 3
        out = gi.new_empty(steps, d, n, h)
        gates = gi.new_empty(steps, d, n, h3)  # r, z (σ applied) and n (tanh applied) of every step
        gh_n = gi.new_empty(steps, d, n, h)  # W_hn h + b_hn of every step, which r gates
        gh = gi.new_empty(d, n, h3)  # W_hh h + b_hh of the current step
        w_t, bias = w_hh.transpose(1, 2), b_hh[:, None, :]
        prev = gi.new_zeros(d, n, h)
        for t in range(steps):
            torch.baddbmm(bias, prev, w_t, out=gh)  # (D, N, 3H)
            g = gates[t]
            torch.sigmoid(gi[t, ..., : 2 * h] + gh[..., : 2 * h], out=g[..., : 2 * h])
            gh_n[t] = gh[..., 2 * h:]
            torch.tanh(torch.addcmul(gi[t, ..., 2 * h:], g[..., :h], gh_n[t]), out=g[..., 2 * h:])
            new = g[..., 2 * h:]
            prev = torch.addcmul(new, g[..., h: 2 * h], prev - new, out=out[t])  # h' = (1 − z) n + z h
        ctx.save_for_backward(w_hh, out, gates, gh_n)
        return out

    @staticmethod
    @once_differentiable  # a second derivative through the scan raises instead of coming out wrong
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        w_hh, out, gates, gh_n = ctx.saved_tensors
        steps, d, n, h = out.shape
        r, z, new = gates[..., :h], gates[..., h: 2 * h], gates[..., 2 * h:]
        prev = torch.cat([out.new_zeros(1, d, n, h), out[:-1]])  # (T, D, N, H): the state each step starts from
        # Every factor that does not depend on the incoming gradient, for all steps at once (new
        # tensors: the saved ones stay intact for a second backward with retain_graph):
        # a_n = W_in x + b_in + r (W_hn h + b_hn), n = tanh(a_n), h' = (1 − z) n + z h.
        to_a_n = (1 - z) * (1 - new * new)  # ∂h'/∂a_n
        to_a_r = gh_n * r * (1 - r)  # ∂a_n/∂a_r
        to_a_z = (prev - new) * z * (1 - z)  # ∂h'/∂a_z
        d_gh = out.new_empty(steps, d, n, 3 * h)  # gradient of W_hh h + b_hh per step
        d_a_n = out.new_empty(steps, d, n, h)  # gradient of a_n (of its input part: r does not gate it)
        dh = grad_out[-1].clone()
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                dh += grad_out[t]
            step = d_gh[t]
            torch.mul(dh, to_a_n[t], out=d_a_n[t])
            torch.mul(d_a_n[t], to_a_r[t], out=step[..., :h])
            torch.mul(dh, to_a_z[t], out=step[..., h: 2 * h])
            torch.mul(d_a_n[t], r[t], out=step[..., 2 * h:])
            dh = torch.baddbmm(dh * z[t], step, w_hh)
        d_w = torch.bmm(d_gh.permute(1, 3, 0, 2).reshape(d, 3 * h, steps * n),
                        prev.permute(1, 0, 2, 3).reshape(d, steps * n, h))  # (D, 3H, H)
        d_b = d_gh.sum(dim=(0, 2))
        d_gi = torch.cat([d_gh[..., : 2 * h], d_a_n], dim=-1)
        return d_gi, d_w, d_b


def scan_applies(rnn: nn.RNNBase, x: torch.Tensor) -> bool:
    """Whether :func:`gru_scan` runs ``rnn`` on ``x``: a one-layer, batch-first ``nn.GRU`` with biases,
    training on a CPU (gradients recorded); everything else keeps PyTorch's kernels."""
    return (isinstance(rnn, nn.GRU) and rnn.num_layers == 1 and rnn.bias and rnn.batch_first
            and x.device.type == "cpu" and torch.is_grad_enabled() and x.dtype in (torch.float32, torch.float64))


def gru_scan(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Run a one-layer, batch-first ``nn.GRU`` on ``x`` ``(N, T, C)`` as packed sequences would:
    ``(N, T, H · directions)``, padded steps zero."""
    lengths = lengths.clamp(min=1).to(x.device)
    suffixes = ["", "_reverse"] if gru.bidirectional else [""]
    inputs = [x] + ([reverse_within(x, lengths)] if gru.bidirectional else [])
    gi = torch.stack([torch.nn.functional.linear(inp, getattr(gru, f"weight_ih_l0{s}"), getattr(gru, f"bias_ih_l0{s}"))
                      for inp, s in zip(inputs, suffixes)])  # (D, N, T, 3H)
    w_hh = torch.stack([getattr(gru, f"weight_hh_l0{s}") for s in suffixes])
    b_hh = torch.stack([getattr(gru, f"bias_hh_l0{s}") for s in suffixes])
    states = _GRUScan.apply(gi.permute(2, 0, 1, 3).contiguous(), w_hh, b_hh)  # (T, D, N, H)
    outs = [states[:, 0].transpose(0, 1)]  # (N, T, H)
    if gru.bidirectional:
        outs.append(reverse_within(states[:, 1].transpose(0, 1), lengths))
    mask = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]  # (N, T)
    return torch.cat(outs, dim=-1) * mask[..., None].to(x.dtype)
