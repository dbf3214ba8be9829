"""The decomposed-speech model: code shapes, alignment of the resampled streams, padding invariance,
the SSL composites and the pre-training/fine-tuning losses through the multi-task model."""

from __future__ import annotations

import pytest
import torch

from sertool.errors import SertoolError
from sertool.models import build_encoder
from sertool.models.decomposed import NARROW, TINY, downsample_codes
from sertool.models.multitask import MultiTaskModel
from sertool.models.ssl import TINY_ARCH


def batch(lengths: list[int], t: int | None = None) -> dict[str, torch.Tensor]:
    t = t or max(lengths)
    n = torch.tensor(lengths)
    mask = (torch.arange(t)[None, :] < n[:, None])[..., None].float()
    pitch = torch.nn.functional.one_hot(torch.randint(0, 257, (len(lengths), t)), 257).float()
    return {"spectrogram": torch.rand(len(lengths), t, 80) * mask, "spectrogram_lengths": n,
            "pitch": pitch * mask, "pitch_lengths": n}


@pytest.mark.parametrize("length", [1, 8, 13, 203])
def test_code_shapes_for_any_length(length):
    torch.manual_seed(0)
    enc = build_encoder("decomposition", TINY).eval()
    out = enc(**batch([length]))
    k = -(-length // 8)
    assert out["codes_rhythm"].shape == (1, k, 2) and out["codes_content"].shape == (1, k, 4)
    assert out["codes_pitch"].shape == (1, k, 4) and out["code_lengths_content"].tolist() == [k]
    assert out["decoder"].shape == (1, 8 * k, 64) and out["decoder_lengths"].tolist() == [length]
    assert out["timbre"].shape == (1, 8) and out["pooled"].shape == (1, 18)


def test_downsampling_takes_block_ends_not_padding():
    states = torch.randn(1, 13, 6)
    codes, n = downsample_codes(states, torch.tensor([13]))
    assert n.tolist() == [2]
    assert torch.equal(codes[0, 1, :3], states[0, 12, :3])  # the forward state at the last valid frame
    assert torch.equal(codes[0, 1, 3:], states[0, 8, 3:])  # the backward state at the block's first


def test_padding_invariance_in_eval():
    torch.manual_seed(1)
    enc = build_encoder("decomposition", TINY).eval()
    full = batch([37, 21])
    alone = {k: v[1:2, :21] for k, v in full.items() if v.dim() == 3}
    alone.update(spectrogram_lengths=torch.tensor([21]), pitch_lengths=torch.tensor([21]))
    a, b = enc(**full), enc(**alone)
    for key in ("rhythm", "content", "pitch", "timbre", "pooled"):
        assert torch.allclose(a[key][1], b[key][0], atol=1e-5), key
    assert torch.allclose(a["decoder"][1, :21], b["decoder"][0, :21], atol=1e-5)


def test_training_resamples_content_and_pitch_only():
    torch.manual_seed(2)
    enc = build_encoder("decomposition", TINY)
    x = batch([300, 250])
    enc.eval()
    ref = enc(**x)
    enc.train()
    out = enc(**x)
    assert torch.allclose(out["rhythm"], ref["rhythm"], atol=1e-5)  # E_R reads the raw spectrogram
    assert torch.allclose(out["timbre"], ref["timbre"], atol=1e-5)
    assert not torch.allclose(out["content"], ref["content"], atol=1e-3)
    warped = out["code_lengths_content"]
    assert torch.equal(warped, out["code_lengths_pitch"])  # one plan for both streams
    assert (out["decoder_lengths"] >= torch.tensor([300, 250])).all()  # the decoder covers the target


def test_no_resampling_when_switched_off():
    torch.manual_seed(3)
    enc = build_encoder("decomposition", {**TINY, "resample": {}}).train()
    x = batch([40])
    a, b = enc(**x), enc(**x)
    assert torch.allclose(a["content"], b["content"])


def test_default_widths_are_speechsplit_s():
    enc = build_encoder("decomposition")
    assert enc.rhythm.convs[0].conv.out_channels == 128 and enc.rhythm.lstm.dim == 2
    assert [c.conv.out_channels for c in enc.content.convs] == [512] * 3 and enc.content.lstm.dim == 16
    assert len(enc.content.lstm.forward_layers) == 2  # SpeechSplit's Encoder_7: a 2-layer content BiLSTM
    assert [c.conv.out_channels for c in enc.pitch.convs] == [256] * 3 and enc.pitch.lstm.dim == 64
    assert enc.pitch.convs[0].conv.in_channels == 257 and enc.content.convs[0].norm.num_groups == 32
    assert enc.decoder.lstm.dim == 1024 and len(enc.decoder.lstm.backward_layers) == 3
    assert enc.resample.segment == (19, 32) and enc.resample.factor == (0.5, 1.5)


def test_pretraining_losses_through_the_multitask_model():
    torch.manual_seed(4)
    model = MultiTaskModel.build("decomposition", TINY, {
        "speaker": {"type": "speaker", "input": "timbre", "speakers": ["a", "b", "c"]},
        "recon": {"type": "reconstruction", "input": "decoder", "target": "spectrogram", "lstm_units": None}})
    x = batch([45, 30])
    pred = model(**x)
    assert pred["speaker"].shape == (2, 3)
    assert pred["recon"]["pred"].shape == (2, 45, 80) and pred["recon"]["lengths"].tolist() == [45, 30]
    assert torch.equal(pred["recon"]["target"], x["spectrogram"])
    loss = model.tasks["recon"].loss(pred["recon"], {"present": torch.tensor([True, True])})
    loss.backward()
    assert model.encoder.content.convs[0].conv.weight.grad.abs().sum() > 0


def test_fine_tuning_model_pools_each_rate_apart():
    torch.manual_seed(5)
    conf = {"ssl_conf": {"arch_conf": TINY_ARCH}, "decomposition": TINY, "emotion_codes": ["pitch"]}
    model = MultiTaskModel.build("decomposition_ssl", conf, {
        "emotion": {"type": "emotion"},
        "chars": {"type": "ctc", "inventory": "char32", "field": "text"},
        "recon": {"type": "reconstruction", "input": "decoder", "target": "spectrogram", "lstm_units": None},
        "speaker": {"type": "speaker", "input": "timbre", "speakers": ["a", "b"]}}).eval()
    assert model.encoder.output_dims["pooled"] == 32 + 4  # wav2vec 2.0 width + Z_F
    x = {**batch([62, 40]), "waveform": torch.randn(2, 16000), "waveform_lengths": torch.tensor([16000, 10240])}
    pred = model(**x)
    assert pred["emotion"].shape == (2, 4) and pred["speaker"].shape == (2, 2)
    assert pred["chars"]["log_probs"].shape[1] == 49 and pred["chars"]["lengths"].tolist() == [49, 31]  # 20 ms
    assert pred["recon"]["pred"].shape == (2, 62, 80)  # 16 ms


def test_autoencoder_ssl_and_bad_codes():
    enc = build_encoder("autoencoder_ssl", {"ssl_conf": {"arch_conf": TINY_ARCH},
                                            "decomposition": NARROW["speech_autoencoder"]})
    assert set(enc.inputs) == {"waveform", "spectrogram"} and enc.output_dims["pooled"] == 32 + 8
    with pytest.raises(SertoolError, match="emotion_codes"):
        build_encoder("decomposition_ssl", {"ssl_conf": {"arch_conf": TINY_ARCH}, "decomposition": TINY,
                                            "emotion_codes": ["prosody"]})
