"""The SSL encoders: torchaudio's architectures, weights from Hugging Face directories, torchaudio
bundles and state-dict files (never the network), freezing, layer selection, masking and padding.

Every model here is a tiny random one of the real architecture (width 32, 2 layers, 2 heads, 32
conv channels), saved the way its source saves it; nothing is downloaded.
"""

from __future__ import annotations

import csv
import json
import shutil
import socket

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio
import yaml

from sertool.cli.testing import invoke
from sertool.data.folds import Fold, write_folds
from sertool.data.manifest import read_manifest, write_manifest
from sertool.errors import SertoolError
from sertool.models import build_encoder
from sertool.models.ssl import ARCHS, TINY_ARCH, arch_kwargs, build_ssl_model, bundle_file
from sertool.testing.audio import make_corpus

transformers = pytest.importorskip("transformers")

HF_TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
           "conv_dim": (32,) * 7, "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 2, "vocab_size": 32}
WAVLM_TINY = {"num_buckets": 32, "max_bucket_distance": 64}
TINY = {**TINY_ARCH, "encoder_layer_drop": 0.0}


def hf_model(name: str, **conf):
    """A random tiny Hugging Face model of class ``name`` (its config class inferred), in eval mode."""
    family = name.removesuffix("Model").removesuffix("ForCTC").removesuffix("ForSequenceClassification")
    config = getattr(transformers, f"{family}Config")(**HF_TINY, **(WAVLM_TINY if family == "WavLM" else {}), **conf)
    torch.manual_seed(0)
    return getattr(transformers, name)(config).eval()


def saved(model, path):
    model.save_pretrained(path)
    return path


@pytest.mark.parametrize("arch", list(ARCHS))
def test_architectures_are_torchaudios_builders(arch):
    """Each named architecture has the parameters of torchaudio's named builder (built on the meta device)."""
    family, builder, _ = ARCHS[arch]
    with torch.device("meta"):
        ours = build_ssl_model(family, arch_kwargs(arch)).state_dict()
        theirs = getattr(torchaudio.models, builder)().state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}


@pytest.mark.parametrize("name, family, conf", [
    ("Wav2Vec2Model", "wav2vec2", {}),
    ("Wav2Vec2Model", "wav2vec2", {"do_stable_layer_norm": True, "feat_extract_norm": "layer"}),  # "large" style
    ("HubertModel", "hubert", {}),
    ("WavLMModel", "wavlm", {}),
    ("Wav2Vec2ForCTC", "wav2vec2", {}),
    ("HubertForCTC", "hubert", {}),  # torchaudio's importer alone fails on these two
    ("WavLMForCTC", "wavlm", {}),
    ("Wav2Vec2ForSequenceClassification", "wav2vec2", {}),
])
def test_hugging_face_directory_gives_the_hidden_states_of_transformers(name, family, conf, tmp_path):
    hf = hf_model(name, **conf)
    enc = build_encoder(family, {"weights": str(saved(hf, tmp_path / "hf")), "layer": "last"}).eval()
    x = torch.randn(1, 16000)
    with torch.no_grad():
        ref = hf.base_model(x, output_hidden_states=True)
        states, lengths = enc.hidden_states(x, torch.tensor([16000]))
        out = enc(x, torch.tensor([16000]))
    assert len(states) == len(ref.hidden_states) == 3 and lengths.tolist() == [ref.last_hidden_state.shape[1]]
    for ours, theirs in zip(states, ref.hidden_states):
        assert torch.allclose(ours, theirs, atol=1e-4)
    assert torch.allclose(out["frames"], ref.last_hidden_state, atol=1e-4)
    assert torch.allclose(out["pooled"], ref.last_hidden_state.mean(1), atol=1e-4)
    assert enc.arch["encoder_layer_norm_first"] == bool(conf.get("do_stable_layer_norm", False))


def test_hugging_face_mask_embedding_and_preprocessor_are_taken(tmp_path):
    hf = hf_model("Wav2Vec2Model")
    path = saved(hf, tmp_path / "hf")
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True).save_pretrained(path)
    enc = build_encoder("wav2vec2", {"weights": str(path), "mask_time_prob": 0.1})
    assert torch.equal(enc.mask_generator.mask_embedding.detach(), hf.masked_spec_embed.detach())
    assert enc.normalize_waveform


def test_hugging_face_model_of_another_family_is_refused(tmp_path):
    path = saved(hf_model("HubertModel"), tmp_path / "hf")
    with pytest.raises(SertoolError, match="holds a hubert model; use encoder: hubert"):
        build_encoder("wav2vec2", {"weights": str(path)})


def test_padding_never_changes_a_clip():
    """The group-norm feature encoder runs on each clip alone; attention and pooling mask the padding."""
    torch.manual_seed(0)
    for family in ("wav2vec2", "wavlm"):
        enc = build_encoder(family, {"arch_conf": TINY}).eval()
        x = torch.randn(3, 12000)
        lengths = torch.tensor([12000, 7000, 300])  # the last is shorter than the receptive field
        with torch.no_grad():
            batch = enc(x, lengths)
            for i, n in enumerate(lengths.tolist()):
                alone = enc(x[i: i + 1, :n], lengths[i: i + 1])
                t = int(alone["frame_lengths"][0])
                assert batch["frame_lengths"][i] == t
                assert torch.allclose(batch["frames"][i, :t], alone["frames"][0], atol=1e-5)
                assert torch.allclose(batch["pooled"][i], alone["pooled"][0], atol=1e-5)
        assert batch["frame_lengths"].tolist() == [37, 21, 1] and enc.frame_stride == 320


def test_waveform_normalisation_uses_valid_samples_only():
    torch.manual_seed(0)
    enc = build_encoder("wav2vec2", {"arch_conf": TINY, "normalize_waveform": True}).eval()
    x = torch.randn(1, 8000)
    padded = torch.cat([x, 5 * torch.ones(1, 4000)], 1)  # junk in the padding
    with torch.no_grad():
        a = enc(x, torch.tensor([8000]))["pooled"]
        b = enc(torch.cat([padded, torch.zeros(1, 12000)]), torch.tensor([8000, 100]))["pooled"][:1]
        c = enc(3 * x + 1, torch.tensor([8000]))["pooled"]  # scale and offset normalised away
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a, c, atol=1e-4)


def _tiny_state(family: str = "wav2vec2") -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return build_encoder(family, {"arch_conf": TINY}).ssl.state_dict()


def test_torchaudio_bundle_loads_from_the_torch_hub_cache_without_network(tmp_path, monkeypatch):
    """A tiny model of the bundle's file name in $TORCH_HOME: found and loaded with weights_only, no connection."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("tried the network"))
    path, url = bundle_file("WAV2VEC2_BASE")
    assert path == tmp_path / "torch" / "hub" / "checkpoints" / "wav2vec2_fairseq_base_ls960.pth"
    assert url == "https://download.pytorch.org/torchaudio/models/wav2vec2_fairseq_base_ls960.pth"
    state = _tiny_state()
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    enc = build_encoder("wav2vec2", {"weights": "WAV2VEC2_BASE", "arch_conf": TINY})
    assert enc.model_name == "wav2vec2_base" and not enc.normalize_waveform
    assert all(torch.equal(v, enc.ssl.state_dict()[k]) for k, v in state.items())
    # the bundle's own flag: LV-60k-style models expect a normalised waveform
    lv60k, _ = bundle_file("WAV2VEC2_LARGE_LV60K")
    with torch.device("meta"):
        big = build_ssl_model("wav2vec2", {**arch_kwargs("wav2vec2_large_lv60k"), **TINY})
    torch.save({k: torch.zeros(v.shape) for k, v in big.state_dict().items()}, lv60k)
    assert build_encoder("wav2vec2", {"weights": "WAV2VEC2_LARGE_LV60K", "arch_conf": TINY}).normalize_waveform


def test_bundle_file_with_pickled_objects_is_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path, _ = bundle_file("HUBERT_BASE")
    path.parent.mkdir(parents=True)
    torch.save({"weights": SertoolError("an object")}, path)
    with pytest.raises(SertoolError, match="cannot load HUBERT_BASE weights"):
        build_encoder("hubert", {"weights": "HUBERT_BASE", "arch_conf": TINY})


def test_missing_bundle_offline_is_one_line_naming_file_place_and_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("SERTOOL_OFFLINE", "1")
    with pytest.raises(SertoolError) as err:
        build_encoder("wavlm", {"weights": "WAVLM_BASE_PLUS"})
    msg = str(err.value)
    assert "\n" not in msg
    assert str(tmp_path / "hub" / "checkpoints" / "wavlm_base_plus.pth") in msg
    assert "https://download.pytorch.org/torchaudio/models/wavlm_base_plus.pth" in msg


def test_missing_bundle_without_a_connection_is_the_same_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("SERTOOL_OFFLINE", raising=False)

    def refuse(*_a, **_k):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(SertoolError, match="cannot download it; fetch https://download.pytorch.org/"):
        build_encoder("hubert", {"weights": "HUBERT_BASE"})


@pytest.mark.parametrize("conf, message", [
    ({"weights": "WAV2VEC2_TINY"}, "unknown torchaudio bundle 'WAV2VEC2_TINY'"),
    ({"weights": "HUBERT_BASE"}, "bundle HUBERT_BASE holds a hubert model"),
    ({"weights": "no/such/dir"}, "weights not found: no/such/dir"),
    ({"model": "hubert_base"}, "model 'hubert_base' is a hubert model"),
    ({"model": "wav2vec2_huge"}, "unknown SSL model"),
    ({"freeze": "transformer"}, "freeze must be one of none, cnn, all"),
    ({"layer": 9, "arch_conf": TINY}, "layer must be last, weighted or 0..2"),
    ({"arch_conf": {"encoder_width": 3}}, "arch_conf has unknown key"),
])
def test_configuration_mistakes_are_one_line(conf, message):
    with pytest.raises(SertoolError, match=message):
        build_encoder("wav2vec2", conf)


def test_state_dict_file_and_a_mismatched_one(tmp_path):
    state = _tiny_state("hubert")
    torch.save(state, tmp_path / "w.pt")
    enc = build_encoder("hubert", {"weights": str(tmp_path / "w.pt"), "arch_conf": TINY})
    assert all(torch.equal(v, enc.ssl.state_dict()[k]) for k, v in state.items())
    torch.save({"model": {f"encoder.ssl.{k}": v for k, v in state.items()}}, tmp_path / "bundle.pt")  # a sertool model
    assert build_encoder("hubert", {"weights": str(tmp_path / "bundle.pt"), "arch_conf": TINY})
    with pytest.raises(SertoolError, match="do not fit the hubert_base architecture: .* of another shape"):
        build_encoder("hubert", {"weights": str(tmp_path / "w.pt"), "arch_conf": {**TINY, "encoder_embed_dim": 64}})


def _grads(module) -> set[str]:
    return {n for n, p in module.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


@pytest.mark.parametrize("freeze", ["none", "cnn", "all"])
def test_freeze_options_freeze_what_they_say(freeze):
    torch.manual_seed(0)
    enc = build_encoder("wav2vec2", {"arch_conf": TINY, "freeze": freeze, "layer": "weighted"}).train()
    out = enc(torch.randn(2, 8000), torch.tensor([8000, 6000]))
    out["pooled"].sum().backward()
    trainable = {n for n, p in enc.named_parameters() if p.requires_grad}
    got = _grads(enc)
    cnn = {n for n in trainable if n.startswith("ssl.feature_extractor.")}
    transformer = {n for n in trainable if n.startswith("ssl.encoder.")}
    assert "layer_weights" in got  # the weighted sum always learns
    if freeze == "none":
        assert cnn and transformer and {n for n in got if n.startswith("ssl.feature_extractor.")}
    elif freeze == "cnn":
        assert not cnn and transformer and not any(n.startswith("ssl.feature_extractor.") for n in got)
    else:
        assert not cnn and not transformer and got == {"layer_weights"}
        assert not enc.ssl.training and enc.training  # the frozen model runs without dropout
    assert got <= trainable


def test_weighted_layer_sum_and_a_chosen_layer():
    torch.manual_seed(0)
    enc = build_encoder("wavlm", {"arch_conf": TINY, "layer": "weighted"}).eval()
    x, n = torch.randn(2, 9000), torch.tensor([9000, 5000])
    with torch.no_grad():
        states, _ = enc.hidden_states(x, n)
        enc.layer_weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
        w = torch.softmax(enc.layer_weights, 0)
        assert torch.allclose(enc(x, n)["frames"], sum(wi * s for wi, s in zip(w, states)), atol=1e-5)
        enc.layer_weights.copy_(torch.tensor([0.0, 50.0, 0.0]))  # all weight on layer 1
        assert torch.allclose(enc(x, n)["frames"], states[1], atol=1e-5)
    assert enc.shared_parameters() == [enc.layer_weights]
    first = build_encoder("wavlm", {"arch_conf": TINY, "layer": 1}).eval()
    first.load_state_dict(enc.state_dict(), strict=False)
    with torch.no_grad():
        assert torch.allclose(first(x, n)["frames"], states[1], atol=1e-5)
    frozen = {n for n, p in first.named_parameters() if not p.requires_grad}
    assert any(n.startswith("ssl.encoder.transformer.layers.1.") for n in frozen)  # never run
    assert not any(n.startswith("ssl.encoder.transformer.layers.0.") for n in frozen)


def test_masking_only_while_training_and_from_the_torch_generator():
    enc = build_encoder("hubert", {"arch_conf": {**TINY, "encoder_projection_dropout": 0.0,
                                                 "encoder_attention_dropout": 0.0, "encoder_ff_interm_dropout": 0.0,
                                                 "encoder_dropout": 0.0},
                                   "mask_time_prob": 0.5, "mask_time_length": 4, "mask_channel_prob": 0.3,
                                   "mask_channel_length": 4})
    x, n = torch.randn(2, 16000), torch.tensor([16000, 9000])
    enc.eval()
    with torch.no_grad():
        clean = enc(x, n)["frames"]
        enc.train()
        torch.manual_seed(3)
        a = enc(x, n)["frames"]
        torch.manual_seed(3)
        b = enc(x, n)["frames"]
    assert not torch.allclose(a, clean, atol=1e-3) and torch.equal(a, b)  # masked, and reproducible (resume)
    assert enc.mask_generator.mask_embedding.requires_grad


def test_portable_configuration_rebuilds_from_the_state_alone(tmp_path):
    path = saved(hf_model("WavLMModel"), tmp_path / "hf")
    conf = {"weights": str(path), "layer": "weighted"}
    enc = build_encoder("wavlm", conf).eval()
    portable = enc.portable_conf(conf)
    assert portable["weights"] is None and portable["initialised_from"] == str(path)
    assert portable["arch_conf"]["encoder_num_buckets"] == 32
    again = build_encoder("wavlm", portable).eval()
    again.load_state_dict(enc.state_dict())
    x = torch.randn(1, 8000)
    with torch.no_grad():
        assert torch.equal(enc(x, torch.tensor([8000]))["pooled"], again(x, torch.tensor([8000]))["pooled"])


def test_cpu_backward_runs_on_native_convolutions_and_restores_onednn():
    """Waveforms of every length are new shapes to oneDNN: a model whose feature encoder trains runs
    (and back-propagates) without it."""
    torch.manual_seed(0)
    enc = build_encoder("wav2vec2", {"arch_conf": TINY, "freeze": "none"}).train()
    seen = []
    enc.ssl.feature_extractor.conv_layers[0].conv.weight.register_hook(
        lambda g: seen.append(torch.backends.mkldnn.enabled))
    enc.ssl.encoder.transformer.layers[-1].feed_forward.output_dense.weight.register_hook(
        lambda g: seen.append(torch.backends.mkldnn.enabled))
    assert torch.backends.mkldnn.enabled
    out = enc(torch.randn(2, 8000), torch.tensor([8000, 5000]))
    assert torch.backends.mkldnn.enabled
    out["pooled"].sum().backward()
    assert seen == [False, False] and torch.backends.mkldnn.enabled
    frozen_cnn = build_encoder("wav2vec2", {"arch_conf": TINY, "freeze": "cnn"}).train()  # oneDNN kept
    frozen_cnn.ssl.encoder.transformer.layers[-1].feed_forward.output_dense.weight.register_hook(
        lambda g: seen.append(torch.backends.mkldnn.enabled))
    frozen_cnn(torch.randn(2, 8000), torch.tensor([8000, 5000]))["pooled"].sum().backward()
    assert seen[-1] and torch.backends.mkldnn.enabled


@pytest.fixture(scope="module")
def ssl_experiment(tmp_path_factory):
    """``sertool train`` of the four SSL-MTL tasks on a tiny corpus, the encoder initialised from a
    Hugging Face directory that is deleted once trained: the bundle must hold everything."""
    root = tmp_path_factory.mktemp("ssl")
    manifest = make_corpus(root / "data", num_utts=16, speakers=4)
    utts = read_manifest(manifest)
    for i, u in enumerate(utts):
        u.emotion, u.text = ("neutral", "happy", "angry", "sad")[i % 4], ("yes it is", "no way", "well then")[i % 3]
    write_manifest(manifest, utts)
    ids = [u.id for u in utts]
    write_folds(root / "data" / "folds.json", "custom", [Fold("1", train=ids[:12], dev=ids[12:14], test=ids[14:])])
    hf = saved(hf_model("Wav2Vec2ForCTC"), root / "hf")
    conf = {
        "data": {"manifests": [str(manifest)], "folds": str(root / "data" / "folds.json"), "max_seconds": 1.0},
        "model": {"encoder": "wav2vec2", "encoder_conf": {"weights": str(hf), "freeze": "cnn", "layer": "weighted",
                                                          "mask_time_prob": 0.05}},
        "tasks": {"emotion": {"type": "emotion", "label_set": "emo4", "weight": 1.0},
                  "gender": {"type": "gender", "weight": 0.4}, "speaker": {"type": "speaker", "weight": 0.6},
                  "chars": {"type": "ctc", "inventory": "char32", "field": "text", "weight": 0.1}},
        "optim": {"name": "adamw", "lr": 1e-3, "encoder_lr": 1e-4,
                  "scheduler": {"name": "linear", "warmup_epochs": 1}},
        "train": {"epochs": 2, "batch_size": 4, "accumulate": 2, "tensorboard": False, "threads": 1},
    }
    (root / "conf.yaml").write_text(yaml.safe_dump(conf))
    invoke("train", root / "conf.yaml", "--exp-dir", root / "exp")
    shutil.rmtree(hf)
    clip = root / "stereo_44k.wav"
    wave, rate = sf.read(utts[-1].audio)
    t = np.arange(int(len(wave) * 44100 / rate))
    left = np.interp(t * rate / 44100, np.arange(len(wave)), wave)
    sf.write(clip, np.stack([left, 0.5 * left], 1), 44100)
    return {"root": root, "exp": root / "exp", "clip": clip}


def test_ssl_mtl_trains_every_head_and_evaluates(ssl_experiment):
    rows = list(csv.DictReader((ssl_experiment["exp"] / "fold-1" / "train_log.csv").read_text().splitlines()))
    assert len(rows) == 2
    for task in ("emotion", "gender", "speaker", "chars"):
        assert float(rows[0][f"loss_{task}"]) > 0  # every head trained
    assert float(rows[0]["lr_encoder"]) < float(rows[0]["lr"])
    invoke("eval", ssl_experiment["exp"])
    scores = json.loads((ssl_experiment["exp"] / "scores.json").read_text())
    assert 0 <= scores["mean"]["ua"] <= 1 and "gender_acc" in scores["mean"] and "chars_cer" in scores["mean"]


def test_ssl_bundle_infers_a_44k_stereo_clip_with_no_weights_file(ssl_experiment):
    out = invoke("infer", ssl_experiment["exp"], ssl_experiment["clip"])
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer["file"] == str(ssl_experiment["clip"])
    assert answer["emotion"] in answer["probabilities"] and answer["gender"] in ("F", "M")
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
