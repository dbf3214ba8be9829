"""The multi-task model: heads sized from the encoder, every head fed the encoder's outputs and the input."""

import pytest
import torch

from sertool.errors import SertoolError
from sertool.models import ENCODERS, build_encoder
from sertool.models.multitask import MultiTaskModel

TASKS = {
    "emotion": {"type": "emotion", "label_set": "seqm9", "gamma": 10.0, "weight": 1.0},
    "intensity": {"type": "intensity"},
    "phones": {"type": "ctc", "inventory": "cmudict85"},
    "gender": {"type": "gender"},
    "recon": {"type": "reconstruction", "lstm_units": 4},
}


def test_registry_holds_the_papers_encoders():
    assert {"sa_cnn_blstm", "ecapa_tdnn", "blstm_attention"} <= set(ENCODERS.names())
    with pytest.raises(SertoolError, match="unknown encoder"):
        build_encoder("nope")
    with pytest.raises(SertoolError, match="bad arguments"):
        build_encoder("ecapa_tdnn", {"chanels": 3})


@pytest.mark.parametrize("encoder,conf,stride", [
    ("sa_cnn_blstm", {"input_dim": 12, "cnn_channels": 4, "lstm_units": 3, "attn_dim": 5, "attn_heads": 2}, 3),
    ("ecapa_tdnn", {"input_dim": 12, "channels": 8, "scale": 2, "se_bottleneck": 4, "attn_bottleneck": 4,
                    "embed_dim": 6}, 1),
    ("blstm_attention", {"input_dim": 12, "lstm_units": 3, "attn_dim": 5, "attn_heads": 2, "fc_dims": [8]}, 1),
])
def test_every_encoder_feeds_every_kind_of_head(encoder, conf, stride):
    model = MultiTaskModel.build(encoder, conf, TASKS)
    preds = model(feats=torch.randn(2, 30, 12), feats_lengths=torch.tensor([30, 21]))
    assert preds["emotion"].shape == (2, 9) and preds["gender"].shape == (2, 2) and preds["intensity"].shape == (2,)
    assert preds["phones"]["log_probs"].shape[-1] == 86
    assert model.tasks["recon"].stride == stride and preds["recon"]["pred"].shape[-1] == 12
