"""Losses against hand-computed and numpy references; masked items never receive gradient."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sertool.tasks.losses import IGNORE_EIS, IGNORE_INDEX, ccc_loss, concordance, ctc_loss, focal_loss, masked_mse


def numpy_ccc(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_focal_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(6, 4)
    target = torch.tensor([0, 3, IGNORE_INDEX, 1, 2, IGNORE_INDEX])
    expected = F.cross_entropy(logits, target, ignore_index=IGNORE_INDEX)
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), expected)


def test_focal_matches_a_hand_computed_value():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    target = torch.tensor([0, 2])
    p0 = math.exp(2) / (math.exp(2) + 2)
    p1 = 1 / (2 + math.e)
    expected = (-(1 - p0) ** 2 * math.log(p0) - (1 - p1) ** 2 * math.log(p1)) / 2
    assert focal_loss(logits, target, gamma=2.0).item() == pytest.approx(expected, rel=1e-6)
    # well-classified items are down-weighted: the focal loss is below the cross-entropy
    assert focal_loss(logits, target, gamma=10.0) < focal_loss(logits, target, gamma=0.0)


def test_focal_is_none_without_labels():
    assert focal_loss(torch.randn(2, 3), torch.tensor([IGNORE_INDEX, IGNORE_INDEX]), 10.0) is None


def test_ccc_matches_numpy():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 4, 16), rng.uniform(0, 4, 16)
    assert float(concordance(torch.tensor(x), torch.tensor(y))) == pytest.approx(numpy_ccc(x, y), abs=1e-6)
    loss = ccc_loss(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))
    assert float(loss) == pytest.approx(1 - numpy_ccc(x, y), abs=1e-5)


def test_label_ignore_follows_algorithm_1_and_gives_masked_items_zero_gradient():
    pred = torch.tensor([1.0, 2.5, 5.3, 0.7, -0.4], requires_grad=True)
    target = torch.tensor([1.5, 3.0, IGNORE_EIS, 0.0, IGNORE_EIS])
    loss = ccc_loss(pred, target)
    # Algorithm 1: an ignored label becomes the prediction clipped into [0, 4]
    gold = [1.5, 3.0, 4.0, 0.0, 0.0]
    assert loss.item() == pytest.approx(1 - numpy_ccc(pred.detach().numpy(), gold), abs=1e-5)
    loss.backward()
    assert pred.grad[2] == 0 and pred.grad[4] == 0
    assert torch.all(pred.grad[[0, 1, 3]] != 0)


def test_ccc_loss_is_none_when_every_label_is_ignored():
    assert ccc_loss(torch.randn(3), torch.full((3,), IGNORE_EIS)) is None


def test_ctc_leaves_untranscribed_items_out():
    torch.manual_seed(0)
    logits = torch.randn(3, 12, 6, requires_grad=True)  # blank = 5
    log_probs = torch.log_softmax(logits, -1)
    lengths = torch.tensor([12, 10, 12])
    tokens = torch.tensor([[1, 2, 2], [0, 0, 0], [3, 4, 0]])
    token_lengths = torch.tensor([3, 0, 2])
    loss = ctc_loss(log_probs, lengths, tokens, token_lengths, blank=5)
    keep = [0, 2]
    expected = F.ctc_loss(log_probs[keep].transpose(0, 1), tokens[keep], lengths[keep], token_lengths[keep],
                          blank=5, reduction="sum") / 2
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.all(logits.grad[1] == 0)
    assert ctc_loss(log_probs, lengths, tokens, torch.zeros(3, dtype=torch.long), blank=5) is None


def test_masked_mse_counts_valid_frames_only():
    pred = torch.zeros(2, 3, 2)
    target = torch.ones(2, 3, 2)
    target[1, 2] = 100.0  # a padded frame
    mask = torch.tensor([[True, True, True], [True, True, False]])
    assert float(masked_mse(pred, target, mask)) == 1.0
    assert masked_mse(pred, target, torch.zeros(2, 3, dtype=torch.bool)) is None


def test_ctc_reduction_is_a_stated_choice():
    torch.manual_seed(0)
    lp = torch.log_softmax(torch.randn(3, 12, 6), dim=-1)
    tokens, n = torch.tensor([[1, 2, 3, 4], [2, 0, 0, 0], [1, 1, 2, 0]]), torch.tensor([4, 1, 3])
    lengths = torch.tensor([12, 12, 9])
    per_utt = torch.nn.functional.ctc_loss(lp.transpose(0, 1), tokens, lengths, n, blank=5, reduction="none")
    summed = ctc_loss(lp, lengths, tokens, n, blank=5)  # ssl_mtl.txt §2.3: per-utterance NLL, batch mean
    token_mean = ctc_loss(lp, lengths, tokens, n, blank=5, reduction="token_mean")
    assert torch.allclose(summed, per_utt.mean())
    assert torch.allclose(token_mean, torch.nn.functional.ctc_loss(lp.transpose(0, 1), tokens, lengths, n,
                                                                   blank=5, reduction="mean"))
    with pytest.raises(ValueError, match="reduction"):
        ctc_loss(lp, lengths, tokens, n, blank=5, reduction="max")
