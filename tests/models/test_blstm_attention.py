"""The selective-MTL BLSTM with multi-head self-attention: Table 2's sizes, masking, shared layer."""

import torch

from sertool.models import build_encoder


def test_defaults_follow_table_2():
    enc = build_encoder("blstm_attention", {})
    assert [lstm.hidden_size for lstm in enc.lstms] == [256, 256]  # d_LSTM
    assert enc.dropout.p == 0.2
    # eq. 1: a W_1,i (d_Att × 2 d_LSTM) and an ω_2,i (d_Att) for each of the n_Head heads
    assert not enc.attention.shared_w1
    assert enc.attention.w_s1.weight.shape == (8 * 512, 512) and enc.attention.w_s2.shape == (8, 512)
    assert [m.out_features for m in enc.fc if isinstance(m, torch.nn.Linear)] == [4096, 1024]  # FC1, FC2
    assert enc.attention.out_dim == 8 * 512 and enc.output_dims == {"pooled": 1024, "frames": 512}


def test_shapes_and_padding_invariance():
    torch.manual_seed(0)
    enc = build_encoder("blstm_attention", {"input_dim": 10, "lstm_units": 6, "attn_dim": 8, "attn_heads": 2,
                                            "fc_dims": [16, 8]}).eval()
    x = torch.randn(2, 40, 10)
    out = enc(x, torch.tensor([40, 17]))
    assert out["pooled"].shape == (2, 8) and out["frames"].shape == (2, 40, 12)
    assert torch.all(out["attention"][1, :, 17:] == 0)
    alone = enc(x[1:, :17], torch.tensor([17]))["pooled"][0]
    assert torch.allclose(out["pooled"][1], alone, atol=1e-5)
    grads = torch.autograd.grad(out["pooled"].sum(), enc.shared_parameters())
    assert all(g.abs().sum() > 0 for g in grads)


def test_each_head_has_its_own_w1():
    """selective_mtl.txt eq. 1: head i's weights depend on W_1,i alone (SA-CNN-BLSTM shares W_s1)."""
    torch.manual_seed(0)
    enc = build_encoder("blstm_attention", {"input_dim": 6, "lstm_units": 4, "attn_dim": 5, "attn_heads": 3,
                                            "fc_dims": [8]})
    out = enc(torch.randn(2, 9, 6), torch.tensor([9, 6]))
    w1 = enc.attention.w_s1.weight  # (heads · attn_dim, 2 · units): block i is W_1,i
    assert w1.shape == (3 * 5, 8)
    for head in range(3):
        (grad,) = torch.autograd.grad(out["attention"][:, head].pow(2).sum(), w1, retain_graph=True)
        rows = grad.abs().sum(dim=1).view(3, 5).sum(dim=1)  # gradient reaching each head's block
        assert rows[head] > 0 and all(rows[other] == 0 for other in range(3) if other != head)
    shared = build_encoder("blstm_attention", {"input_dim": 6, "lstm_units": 4, "attn_dim": 5, "attn_heads": 3,
                                               "attn_shared_w1": True})
    assert shared.attention.w_s1.weight.shape == (5, 8) and shared.attention.w_s2.weight.shape == (3, 5)


def test_gradnorm_shared_layer_is_fc2():
    enc = build_encoder("blstm_attention", {"input_dim": 6, "lstm_units": 4, "attn_dim": 5, "attn_heads": 2,
                                            "fc_dims": [16, 8]})
    fc2 = [m for m in enc.fc if isinstance(m, torch.nn.Linear)][-1]
    assert fc2.out_features == 8
    assert [id(p) for p in enc.shared_parameters()] == [id(fc2.weight), id(fc2.bias)]
    no_fc = build_encoder("blstm_attention", {"input_dim": 6, "lstm_units": 4, "attn_dim": 5, "attn_heads": 2,
                                              "fc_dims": []})
    assert {id(p) for p in no_fc.shared_parameters()} == {id(p) for p in no_fc.attention.parameters()}
