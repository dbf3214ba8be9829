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


def test_heads_share_w_s1():
    """sa_cnn_blstm.txt eq. 5–7: one W_s1 ∈ R^(d_attn × 2 d_lstm), n_attn different w_s2."""
    att = build_encoder("sa_cnn_blstm", {"input_dim": 384}).attention
    assert att.shared_w1
    assert att.w_s1.weight.shape == (512, 120) and att.w_s2.weight.shape == (8, 512)
    torch.manual_seed(0)
    enc = build_encoder("sa_cnn_blstm", {"input_dim": 4, "cnn_channels": 4, "lstm_units": 3, "attn_dim": 5,
                                         "attn_heads": 2})
    out = enc(torch.randn(1, 12, 4), torch.tensor([12]))
    for head in range(2):  # every head's weights reach all of W_s1
        (grad,) = torch.autograd.grad(out["attention"][:, head].pow(2).sum(), enc.attention.w_s1.weight,
                                      retain_graph=True)
        assert (grad.abs().sum(dim=1) > 0).all()


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
