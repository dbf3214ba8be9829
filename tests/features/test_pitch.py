"""Pitch: 200 Hz tone accuracy, column contract, speaker normalisation, SpeechSplit bins and one-hot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sertool.data.manifest import read_manifest
from sertool.features.extractors import get_extractor
from sertool.features.pipeline import extract_features
from sertool.features.pitch import log_f0_stats, pitch_onehot, quantize_pitch
from sertool.features.storage import FeatureReader
from sertool.testing.audio import harmonic_tone, make_corpus


@pytest.mark.parametrize("seconds", [1.0, 0.73, 1.2345])
@pytest.mark.parametrize("method", ["dio", "harvest"])
def test_200hz_tone_gives_200hz(method, seconds):
    tone = harmonic_tone(200.0, seconds)
    feats = get_extractor("pitch", {"method": method})(tone, 16000)
    voiced = feats[:, 1] > 0
    assert voiced.mean() > 0.8
    assert np.all(np.abs(feats[voiced, 0] - 200.0) <= 5.0)
    assert np.all(feats[~voiced, 0] == 0.0)


def test_tone_at_another_rate_is_resampled():
    feats = get_extractor("pitch")(harmonic_tone(200.0, 1.0, sample_rate=22050), 22050)
    assert feats.shape[0] == 101
    assert np.median(feats[feats[:, 1] > 0, 0]) == pytest.approx(200.0, abs=5.0)


def test_columns_bins_and_onehot():
    ext = get_extractor("pitch")
    tone = np.concatenate([harmonic_tone(150.0, 0.5, vibrato=20.0), np.zeros(8000, np.float32)])
    feats = ext(tone, 16000)
    assert feats.shape == (ext.num_frames(tone.size), 4)
    f0, voiced, z, bins = feats.T
    assert set(np.unique(voiced)) == {0.0, 1.0}
    assert np.all((f0 > 0) == (voiced > 0)) and np.all(z[voiced == 0] == 0) and np.all(bins[voiced == 0] == 0)
    assert bins[voiced > 0].min() >= 1 and bins.max() <= 256 and np.all(bins == np.round(bins))
    # without speaker statistics, a clip is normalised by its own voiced frames
    assert abs(z[voiced > 0].mean()) < 1e-4
    onehot = pitch_onehot(bins)
    assert onehot.shape == (feats.shape[0], 257) and np.all(onehot.sum(1) == 1)
    assert np.array_equal(onehot.argmax(1), bins.astype(int))


def test_quantisation_is_speechsplit_mapping():
    z = np.array([-100.0, -4.0, -3.99, 0.0, 4.0, 100.0, 1.0])
    voiced = np.array([1, 1, 1, 1, 1, 1, 0])
    # round(0.5 * 255) + 1 = 129; u = 0 (z <= -4) is bin 0, as the released code's "x <= 0" test makes it
    assert quantize_pitch(z, voiced).tolist() == [0, 0, 1, 129, 256, 256, 0]
    with pytest.raises(ValueError):
        pitch_onehot(np.array([257]))


def test_speaker_stats_override_the_clip_stats():
    ext = get_extractor("pitch")
    tone = harmonic_tone(200.0, 0.5)
    ext.speaker_stats = log_f0_stats(np.full(100, 100.0))  # speaker around 100 Hz, one octave lower
    z = ext(tone, 16000)
    assert np.all(z[z[:, 1] > 0, 2] > 100)  # far above the speaker's (floored) spread


def test_pipeline_normalises_per_speaker(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=6, speakers=2)
    conf = tmp_path / "conf.yaml"
    conf.write_text("shard_size: 4\naugment: {copies: 1, noise_prob: 0, reverb_prob: 0, speed_prob: 0}\n"
                    "random_resample: {copies: 1}\n")
    out = tmp_path / "pitch"
    extract_features([manifest], out, "pitch", config=conf)
    reader = FeatureReader(out)
    stats = json.loads((out / "speaker_f0.json").read_text())
    for spk in ("synthetic/s0", "synthetic/s1"):
        ids = [u.id for u in read_manifest(manifest) if u.speaker == spk]
        frames = np.concatenate([reader.read(i) for i in ids])
        voiced = frames[:, 1] > 0
        z = frames[voiced, 2]
        assert abs(z.mean()) < 1e-4 and abs(z.std() - 1.0) < 1e-3  # exactly the speaker's own z-scores
        np.testing.assert_allclose(np.log(frames[voiced, 0]).mean(), stats[spk]["mean"], rtol=1e-5)
        assert stats[spk]["count"] == voiced.sum()
        # a pitch-shifted copy is normalised with the original speaker statistics
        for i in ids:
            tag = next(a for a in reader.augmentations(i) if a and a.startswith("pitch") and "rr" not in a)
            shifted = reader.read(i, tag)
            steps = float(tag.removeprefix("pitch").removesuffix("st"))
            original = reader.read(i)
            shift_z = np.median(shifted[shifted[:, 1] > 0, 2]) - np.median(original[original[:, 1] > 0, 2])
            np.testing.assert_allclose(shift_z, steps / 12 * np.log(2) / stats[spk]["std"], atol=0.35)
    # random resampling of pitch picks whole frames: flags and bins stay valid
    for i in reader.ids():
        rr = reader.read(i, "rr0")
        assert set(np.unique(rr[:, 1])) <= {0.0, 1.0} and np.all(rr[:, 3] == np.round(rr[:, 3]))
        assert np.all((rr[:, 0] > 0) == (rr[:, 1] > 0))
    assert not (out / ".stage").exists()
