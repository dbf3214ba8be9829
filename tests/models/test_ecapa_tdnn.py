"""SpeechEQ's ECAPA-TDNN backbone: the paper's sizes, the Res-BiGRU, and padding that never leaks."""

import torch

from sertool.models import build_encoder
from sertool.models.ecapa_tdnn import ResBiGRU, SERes2Block


def small(**kw):
    conf = {"input_dim": 20, "channels": 16, "scale": 4, "se_bottleneck": 8, "attn_bottleneck": 8, "embed_dim": 12}
    return build_encoder("ecapa_tdnn", {**conf, **kw})


def test_defaults_follow_speecheq_section_3_2():
    enc = build_encoder("ecapa_tdnn", {})
    block = enc.blocks[0]
    assert isinstance(block, SERes2Block) and isinstance(block.gru, ResBiGRU)
    assert enc.layer1.conv.out_channels == 256  # C
    assert block.se.fc[0].out_features == 128  # SE bottleneck
    assert enc.pooling.attention[0].out_channels == 128  # attention bottleneck
    assert block.res2.scale == 8 and len(block.res2.blocks) == 7  # Res2 scale
    assert [b.res2.blocks[0].conv.dilation[0] for b in enc.blocks] == [2, 3, 4]
    assert enc.output_dims == {"pooled": 192, "frames": 3 * 256} and enc.input_dim == 80


def test_shapes_and_lengths():
    enc = small()
    out = enc(torch.randn(3, 50, 20), torch.tensor([50, 31, 7]))
    assert out["pooled"].shape == (3, 12)
    assert out["frames"].shape == (3, 50, 48)
    assert out["frame_lengths"].tolist() == [50, 31, 7]
    assert torch.all(out["frames"][1, 31:] == 0)  # padded frames stay zero


def test_padding_does_not_change_an_utterance_encoding():
    torch.manual_seed(0)
    enc = small().eval()
    x = torch.randn(2, 60, 20)
    batched = enc(x, torch.tensor([60, 33]))["pooled"][1]
    alone = enc(x[1:, :33], torch.tensor([33]))["pooled"][0]
    assert torch.allclose(batched, alone, atol=1e-5)


def test_without_res_bigru_it_is_the_original_ecapa():
    enc = small(res_bigru=False)
    assert all(b.gru is None for b in enc.blocks)
    assert not any(isinstance(m, torch.nn.GRU) for m in enc.modules())


def test_shared_parameters_feed_every_output():
    enc = small()
    out = enc(torch.randn(2, 30, 20), torch.tensor([30, 20]))
    for key in ("pooled", "frames"):
        grads = torch.autograd.grad(out[key].sum(), enc.shared_parameters(), retain_graph=True)
        assert all(g.abs().sum() > 0 for g in grads)
