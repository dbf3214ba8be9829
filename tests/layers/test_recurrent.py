"""The GRU scan trains exactly the layer ``nn.GRU`` is, on ragged batches, in both directions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sertool.layers.masking import run_packed
from sertool.layers.recurrent import _GRUScan, gru_scan, reverse_within, scan_applies


def packed_gru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``nn.GRU`` itself on packed sequences (run_packed, with the scan out of the way)."""
    with torch.no_grad():
        assert not scan_applies(gru, x)
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return pad_packed_sequence(gru(packed)[0], batch_first=True, total_length=x.shape[1])[0]


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
def test_outputs_and_gradients_equal_packed_nn_gru(bidirectional, dtype, tol):
    torch.manual_seed(0)
    gru = nn.GRU(5, 4, batch_first=True, bidirectional=bidirectional).to(dtype)
    lengths = torch.tensor([9, 4, 1, 7])
    x = torch.randn(4, 9, 5, dtype=dtype, requires_grad=True)
    weights = torch.randn(4, 9, 4 * (1 + bidirectional), dtype=dtype)
    want = packed_gru(gru, x, lengths)
    got = gru_scan(gru, x, lengths)
    torch.testing.assert_close(got, want, atol=tol, rtol=tol)
    params = [x, *gru.parameters()]
    want_grads = torch.autograd.grad((want * weights).sum(), params)
    got_grads = torch.autograd.grad((got * weights).sum(), params)
    for g, w in zip(got_grads, want_grads):
        torch.testing.assert_close(g, w, atol=tol * 10, rtol=tol * 10)
    assert got[1, 4:].abs().sum() == 0 and got[2, 1:].abs().sum() == 0  # padded steps are zeros


def test_padding_never_reaches_a_valid_step():
    gru = nn.GRU(3, 2, batch_first=True, bidirectional=True)
    x = torch.randn(2, 6, 3)
    lengths = torch.tensor([6, 3])
    noisy = x.clone()
    noisy[1, 3:] = 1e3  # whatever the padding holds
    torch.testing.assert_close(gru_scan(gru, x, lengths), gru_scan(gru, noisy, lengths))
    alone = gru_scan(gru, x[1:, :3], lengths[1:])  # the short sequence on its own
    torch.testing.assert_close(gru_scan(gru, x, lengths)[1:, :3], alone, atol=1e-6, rtol=1e-6)


def test_the_scan_passes_gradcheck():
    torch.manual_seed(1)
    gi = torch.randn(5, 2, 3, 6, dtype=torch.float64, requires_grad=True)
    w_hh = torch.randn(2, 6, 2, dtype=torch.float64, requires_grad=True)
    b_hh = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_GRUScan.apply, (gi, w_hh, b_hh))


def test_reversing_within_lengths_is_its_own_inverse():
    x, lengths = torch.randn(3, 5, 2), torch.tensor([5, 2, 1])
    torch.testing.assert_close(reverse_within(reverse_within(x, lengths), lengths), x)
    assert torch.equal(reverse_within(x, lengths)[1, :2], x[1, :2].flip(0))


def test_run_packed_scans_only_gru_training_on_a_cpu(monkeypatch):
    gru, lstm = nn.GRU(3, 2, batch_first=True), nn.LSTM(3, 2, batch_first=True)
    x = torch.randn(2, 4, 3)
    assert scan_applies(gru, x) and not scan_applies(lstm, x)
    assert not scan_applies(nn.GRU(3, 2, num_layers=2, batch_first=True), x)
    assert not scan_applies(nn.GRU(3, 2), x)  # time-major
    with torch.no_grad():
        assert not scan_applies(gru, x)  # inference and exports keep nn.GRU
    calls = []
    monkeypatch.setattr("sertool.layers.masking.gru_scan", lambda *a: calls.append(a) or gru_scan(*a))
    run_packed(gru, x, torch.tensor([4, 2]))
    with torch.no_grad():
        run_packed(gru, x, torch.tensor([4, 2]))
    assert len(calls) == 1


def test_a_second_backward_through_a_kept_graph_gives_the_same_gradients():
    gru = nn.GRU(3, 2, batch_first=True, bidirectional=True)
    x = torch.randn(2, 5, 3, requires_grad=True)
    loss = gru_scan(gru, x, torch.tensor([5, 3])).square().sum()
    first = torch.autograd.grad(loss, [x, *gru.parameters()], retain_graph=True)
    second = torch.autograd.grad(loss, [x, *gru.parameters()])
    for a, b in zip(first, second):
        torch.testing.assert_close(a, b)
