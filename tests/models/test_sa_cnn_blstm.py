"""The self-attentional CNN-BLSTM: the paper's shapes, and padding that never changes results."""

import torch

from sertool.layers.masking import lengths_to_mask, masked_softmax, replicate_last_frame
from sertool.models import build_encoder


def test_shapes_follow_table_1():
    enc = build_encoder("sa_cnn_blstm", {"input_dim": 384})
    out = enc(torch.randn(3, 120, 384), torch.tensor([120, 70, 2]))
    assert out["pooled"].shape == (3, 2 * 8 * 60)
    assert out["frames"].shape == (3, 40, 120)
    assert out["frame_lengths"].tolist() == [40, 23, 1]
    assert out["attention"].shape == (3, 8, 40)


def test_padding_does_not_change_an_utterance_encoding():
    torch.manual_seed(0)
    enc = build_encoder("sa_cnn_blstm", {"input_dim": 16}).eval()
    x = torch.randn(2, 60, 16)
    batched = enc(x, torch.tensor([60, 31]))["pooled"][1]
    alone = enc(x[1:, :31], torch.tensor([31]))["pooled"][0]
    assert torch.allclose(batched, alone, atol=1e-5)


def test_attention_gives_padding_zero_weight():
    enc = build_encoder("sa_cnn_blstm", {"input_dim": 16}).eval()
    out = enc(torch.randn(2, 60, 16), torch.tensor([60, 31]))
    a = out["attention"]
    assert torch.all(a[1, :, 10:] == 0)
    assert torch.allclose(a.sum(-1), torch.ones(2, 8))


def test_masking_helpers():
    lengths = torch.tensor([3, 1])
    assert lengths_to_mask(lengths).tolist() == [[True, True, True], [True, False, False]]
    x = torch.arange(6.0).view(2, 3, 1)
    assert replicate_last_frame(x, lengths)[1, :, 0].tolist() == [3.0, 3.0, 3.0]
    p = masked_softmax(torch.zeros(1, 3), torch.tensor([[True, True, False]]))
    assert p.tolist() == [[0.5, 0.5, 0.0]]
