"""The selective-MTL BLSTM with multi-head self-attention: Table 2's sizes, masking, shared layer."""

import torch

from sertool.models import build_encoder


def test_defaults_follow_table_2():
    enc = build_encoder("blstm_attention", {})
    assert [lstm.hidden_size for lstm in enc.lstms] == [256, 256]  # d_LSTM
    assert enc.dropout.p == 0.2
    assert enc.attention.w_s1.out_features == 512 and enc.attention.w_s2.out_features == 8  # d_Att, n_Head
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
