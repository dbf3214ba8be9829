"""``sertool export``: ONNX graphs that give, in onnxruntime alone, what ``sertool infer`` gives.

Every model family (SA-CNN-BLSTM on log-mels with an intensity head, ECAPA-TDNN on Kaldi filter
banks, the BLSTM with attention on filter banks cropped and padded to 1 s) is trained for one
epoch on a tiny synthetic corpus, exported, and run in onnxruntime on a padded batch of three
clips of different lengths (one shorter than the SA-CNN-BLSTM's pooling window), the padding
filled with junk; each clip's probabilities must equal :class:`~sertool.inference.Predictor`'s
to 1e-4. The heads are sharpened first (weights × 8) so the probabilities move well away from
uniform and differ between clips.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sertool.audio import read_audio
from sertool.cli.testing import invoke, run_cli
from sertool.data.folds import Fold, write_folds
from sertool.data.labels import canonical_to_esc
from sertool.data.manifest import read_manifest, write_manifest
from sertool.errors import SertoolError
from sertool.export import FRONT_ENDS, NotExportable, export_onnx, front_end, pad_batch, raw_features, require_onnx
from sertool.features.extractors import get_extractor
from sertool.inference import Predictor
from sertool.testing.audio import harmonic_tone, make_corpus
from sertool.testing.experiments import tiny_config
from sertool.train.bundle import Bundle, find_bundle
from sertool.train.config import build_config
from sertool.train.inputs import InputSpec
from sertool.train.runner import train_experiment

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOLERANCE = 1e-4

FAMILIES = {
    "sa_cnn_blstm": {"tasks": {"emotion": {"type": "emotion"}, "gender": {"type": "gender"},
                               "intensity": {"type": "intensity"}}},
    "ecapa_tdnn": {"data": {"features": "fbank"},
                   "model": {"encoder": "ecapa_tdnn", "encoder_conf": {
                       "input_dim": 80, "channels": 16, "scale": 4, "se_bottleneck": 8, "attn_bottleneck": 8,
                       "embed_dim": 16}}},
    "blstm_attention": {"data": {"features": "fbank", "max_seconds": 1.0, "pad_to_max": True},
                        "model": {"encoder": "blstm_attention", "encoder_conf": {
                            "input_dim": 80, "lstm_units": 8, "attn_dim": 16, "attn_heads": 2, "fc_dims": [32, 16]}}},
}


@pytest.fixture(scope="module")
def experiments(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("export")
    manifest = make_corpus(root / "data", num_utts=16, speakers=4)
    utts = read_manifest(manifest)
    for i, u in enumerate(utts):  # labels the generator does not give
        u.emotion, u.gender = ("neutral", "happy", "angry", "sad")[i % 4], ("F", "M")[i % 2]
        u.esc, u.eis = canonical_to_esc(u.emotion), 0.0 if u.emotion == "neutral" else float(1 + i % 4)
    write_manifest(manifest, utts)
    ids = [u.id for u in utts]
    write_folds(root / "data" / "folds.json", "custom", [Fold("1", train=ids[:12], dev=ids[12:14], test=ids[14:])])
    invoke("features", manifest, root / "feats", "--extractor", "fbank+logmel")
    corpus = {"en": root / "data", "logmel": root / "feats" / "logmel", "fbank": root / "feats" / "fbank"}
    exps = {}
    for family, sections in FAMILIES.items():
        sections = json.loads(json.dumps(sections))
        if "data" in sections:
            sections["data"]["features"] = str(corpus[sections["data"]["features"]])
        train_experiment(build_config(tiny_config(corpus, **sections)), root / "exp" / family)
        exps[family] = root / "exp" / family
    short = root / "short.wav"  # 820 samples: just over the minimum infer accepts (3 log-mel frames, one pool)
    sf.write(str(short), harmonic_tone(180.0, 820 / 16000, seed=3), 16000, subtype="FLOAT")
    clips = [Path(utts[-1].audio), short, Path(utts[-2].audio)]
    return {"root": root, "corpus": corpus, "exps": exps, "clips": clips}


def sharpened(exp: Path) -> Bundle:
    bundle = Bundle.load(find_bundle(exp))
    with torch.no_grad():
        for task in bundle.model.tasks.values():
            last = task.head[-1]
            last.weight.mul_(8.0)
            last.bias.mul_(8.0)
    return bundle


def padded(name: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The batch of ``arrays`` as graph inputs, the padding filled with junk (the graph must ignore it)."""
    batch, lengths = pad_batch(arrays)
    batch = batch.numpy()
    for i, n in enumerate(lengths.tolist()):
        batch[i, n:] = 0.5 + np.arange(batch.shape[1] - n).reshape(-1, *[1] * (batch.ndim - 2)) % 3
    return {name: batch, f"{name}_lengths": lengths.numpy()}


def reference_and_onnx(bundle: Bundle, out: Path, clips: list[Path], from_audio: bool | None):
    result = export_onnx(bundle, out, from_audio=from_audio)
    sidecar = json.loads(result.sidecar_path.read_text(encoding="utf-8"))
    predictor = Predictor(bundle, torch.device("cpu"))
    # The graph answers one window of the training length; `sertool infer` answers a longer clip
    # from several, so both are given the clips' first window.
    seconds = bundle.cfg.data.max_seconds
    waves = [read_audio(c, sample_rate=16000)[0] for c in clips]
    waves = [w if seconds is None else w[: int(round(seconds * 16000))] for w in waves]
    refs = [predictor.predict_wave(w, 16000) for w in waves]
    if result.input_kind == "audio":
        feeds = padded("audio", waves)
    else:
        feeds = {}
        for name, spec in bundle.specs.items():
            feeds.update(padded(name, [raw_features(spec, w, 16000) for w in waves]))
    session = ort.InferenceSession(str(result.onnx_path), providers=["CPUExecutionProvider"])
    names = [o["name"] for o in sidecar["outputs"]]
    outs = dict(zip(names, session.run(names, feeds)))
    return result, sidecar, refs, outs


def max_difference(sidecar: dict, refs: list[dict], outs: dict) -> float:
    """Largest difference between the graph's outputs and the predictor's answers, over clips and heads."""
    worst = 0.0
    for i, ref in enumerate(refs):
        for o in sidecar["outputs"]:
            if o["kind"] == "probabilities":  # the main task's as "probabilities", others' by name
                key = "probabilities" if o["task"] == sidecar["main_task"] else f"{o['task']}_probabilities"
                expected = np.array([ref[key][label] for label in o["labels"]])
                worst = max(worst, float(np.abs(outs[o["name"]][i] - expected).max()))
            else:  # the predictor rounds intensities to 4 decimals
                worst = max(worst, abs(float(outs[o["name"]][i]) - ref["intensity"]) - 5e-5)
    return worst


@pytest.mark.parametrize("family", list(FAMILIES))
def test_exported_graph_computes_features_and_matches_the_predictor(family, experiments, tmp_path):
    bundle = sharpened(experiments["exps"][family])
    result, sidecar, refs, outs = reference_and_onnx(bundle, tmp_path, experiments["clips"], None)
    assert result.input_kind == "audio" and sidecar["sample_rate"] == 16000
    assert [i["name"] for i in sidecar["inputs"]] == ["audio", "audio_lengths"]
    assert sidecar["labels"]["emotion"] == bundle.raw["tasks"]["emotion"]["labels"]
    assert max_difference(sidecar, refs, outs) < TOLERANCE
    probs = outs["emotion_probabilities"]
    assert np.abs(probs[0] - probs[2]).max() > 100 * TOLERANCE  # the clips are told apart: the check can fail
    assert np.allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_graph_from_features_normalises_them_itself(experiments, tmp_path):
    bundle = sharpened(experiments["exps"]["sa_cnn_blstm"])
    result, sidecar, refs, outs = reference_and_onnx(bundle, tmp_path, experiments["clips"], False)
    assert result.input_kind == "features"
    assert [i["name"] for i in sidecar["inputs"]] == ["feats", "feats_lengths"]
    feats = sidecar["features"]["feats"]
    assert feats["extractor"]["name"] == "logmel" and len(feats["normalisation"]["mean"]) == 384
    assert max_difference(sidecar, refs, outs) < TOLERANCE


def test_a_model_reading_pitch_exports_from_features(experiments, tmp_path):
    root = experiments["root"]
    invoke("features", root / "data" / "manifest.jsonl", root / "pitch", "--extractor", "pitch")
    toy = Path(__file__).parent / "train" / "toy_mel_pitch.py"
    conf = tiny_config(experiments["corpus"], model={"encoder": f"{toy}:MelPitch", "encoder_conf": {"hidden": 8}},
                       data={"features": "", "inputs": {
                           "logmel": {"features": str(experiments["corpus"]["logmel"])},
                           "pitch": {"features": str(root / "pitch"), "cmvn": "none",
                                     "transform": {"name": "onehot", "column": 3, "classes": 257}}}})
    train_experiment(build_config(conf), root / "exp" / "mel_pitch")
    bundle = sharpened(root / "exp" / "mel_pitch")
    result, sidecar, refs, outs = reference_and_onnx(bundle, tmp_path, experiments["clips"], None)
    assert result.input_kind == "features" and "pyworld" in sidecar["not_from_audio_because"]
    assert [i["name"] for i in sidecar["inputs"]] == ["logmel", "logmel_lengths", "pitch", "pitch_lengths"]
    assert sidecar["features"]["pitch"]["transform"]["name"] == "onehot"
    assert max_difference(sidecar, refs, outs) < TOLERANCE


def test_front_ends_equal_the_extractors_on_a_padded_batch():
    rng = np.random.default_rng(1)
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in (9001, 300, 401, 2000)]
    batch, lengths = pad_batch(waves)
    batch[1, 300:] = 5.0  # whatever the padding holds
    batch = batch * (torch.arange(batch.shape[1])[None] < lengths[:, None])  # the graph masks it first
    for name, conf in [("logmel", {}), ("logmel", {"pad_mode": "reflect", "n_fft": 512, "win_length": 400,
                                                     "hop_length": 160, "deltas": False}),
                       ("fbank", {}), ("fbank", {"snip_edges": False, "use_energy": True}),
                       ("spectrogram", {"highpass_hz": 0})]:
        extractor = get_extractor(name, conf)
        feats, frames = FRONT_ENDS.get(name)(extractor)(batch, lengths)
        for i, wave in enumerate(waves):
            expected = extractor(wave, 16000)
            assert int(frames[i]) == expected.shape[0], (name, conf, i)
            np.testing.assert_allclose(feats[i, :expected.shape[0]].numpy(), expected, atol=5e-4, rtol=0)


def test_front_ends_that_do_not_export_say_why():
    def spec(name, conf=None):
        return InputSpec("x", "features", 4, extractor={"name": name, "conf": conf or {}})

    with pytest.raises(NotExportable, match="pyworld"):
        front_end(spec("pitch"))
    with pytest.raises(NotExportable, match="high-pass"):
        front_end(spec("spectrogram"))
    with pytest.raises(NotExportable, match="dither"):
        front_end(spec("fbank", {"dither": 1.0}))


def test_cli_writes_the_graph_and_sidecar(experiments, tmp_path):
    out = tmp_path / "onnx"
    invoke("export", experiments["exps"]["ecapa_tdnn"], "--format", "onnx", "--fold", "1", "--output", out)
    sidecar = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert (out / "model.onnx").is_file() and sidecar["onnx"] == "model.onnx"
    assert [o["name"] for o in sidecar["outputs"]] == ["emotion_probabilities", "gender_probabilities"]
    assert sidecar["features"]["feats"]["extractor"]["name"] == "fbank" and sidecar["fold"] == "1"
    result = run_cli("export", experiments["exps"]["ecapa_tdnn"], "--format", "tflite")
    assert result.exit_code == 1 and result.raw.count("\n") == 1 and "unknown export format" in result.output


def test_missing_extra_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    with pytest.raises(SertoolError, match=r"pip install 'sertool\[export\]'"):
        require_onnx()
    result = run_cli("export", tmp_path / "exp")
    assert result.exit_code == 1 and result.raw.count("\n") == 1
    assert result.raw.startswith("error: ") and "pip install 'sertool[export]'" in result.raw
