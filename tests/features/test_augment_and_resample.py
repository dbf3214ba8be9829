"""Random resampling (online and stored) and stored augmentation copies."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf
import torch

from sertool.errors import SertoolError
from sertool.features.augment import AugmentConfig, Augmenter, add_noise, reverberate, synthetic_rir
from sertool.features.config import build_config
from sertool.features.pipeline import extract_features
from sertool.features.random_resample import RandomResample, resample_positions
from sertool.features.storage import FeatureReader
from sertool.testing.audio import harmonic_tone, make_corpus

X = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)


def test_random_resample_is_deterministic_and_changes_lengths():
    a, b, c = RandomResample(seed=3)(X), RandomResample(seed=3)(X), RandomResample(seed=4)(X)
    np.testing.assert_array_equal(a, b)
    assert a.shape[1] == 8 and a.dtype == np.float32
    assert a.shape != c.shape or not np.array_equal(a, c)
    lengths = {RandomResample(seed=s)(X).shape[0] for s in range(10)}
    assert len(lengths) > 3 and 300 * 0.5 <= min(lengths) and max(lengths) <= 300 * 1.5
    # an explicit generator gives the same warp as the same seed
    np.testing.assert_array_equal(RandomResample()(X, rng=np.random.default_rng(3)), a)


def test_segments_are_stretched_within_bounds():
    rng = np.random.default_rng(0)
    pos = resample_positions(1000, rng, segment=(20, 20), factor=(0.5, 1.5))
    assert np.all(np.diff(pos) >= 0) and pos[0] >= 0 and pos[-1] <= 999
    # identity when every factor is 1: frames come back unchanged
    same = RandomResample(segment=(19, 32), factor=(1.0, 1.0), seed=0)(X)
    np.testing.assert_allclose(same, X, rtol=1e-6)


def test_nearest_mode_keeps_values_and_joint_shares_the_warp():
    bins = np.repeat(np.arange(30, dtype=np.float32), 10)[:, None]
    warped = RandomResample(mode="nearest", seed=0)(bins)
    assert set(np.unique(warped)) <= set(np.unique(bins))
    spec, f0 = RandomResample(seed=5).joint(X, X[:, :1].copy())
    np.testing.assert_array_equal(spec[:, :1], f0)
    t = RandomResample(seed=5)(torch.from_numpy(X))
    assert isinstance(t, torch.Tensor) and torch.equal(t, torch.from_numpy(spec))
    with pytest.raises(ValueError, match="equal frame counts"):
        RandomResample(seed=0).joint(X, X[:10])


def test_augment_tags_are_deterministic_and_named():
    wave = harmonic_tone(180.0, 0.8)
    aug = Augmenter(AugmentConfig(copies=4, seed=7))
    first, again = aug.copies("synthetic/a", wave, 16000), aug.copies("synthetic/a", wave, 16000)
    assert [t for t, _ in first] == [t for t, _ in again]
    for (tag, w), (_, w2) in zip(first, again):
        np.testing.assert_array_equal(w, w2)
        assert re.fullmatch(r"(speed\d\.\d\d|pitch[+-]\d\.\dst|reverb\d\.\ds|noise\d+dB)(\+(pitch[+-]\d\.\dst|"
                            r"reverb\d\.\ds|noise\d+dB|copy\d))*", tag), tag
        assert np.isfinite(w).all() and w.dtype == np.float32
    assert len({t for t, _ in first}) == 4
    assert [t for t, _ in aug.copies("synthetic/b", wave, 16000)] != [t for t, _ in first]


def test_each_effect_within_paper_ranges():
    wave = harmonic_tone(180.0, 1.0)
    only = {"speed_prob": 0.0, "pitch_shift_prob": 0.0, "reverb_prob": 0.0, "noise_prob": 0.0}
    speed = Augmenter(AugmentConfig(copies=1, **{**only, "speed_prob": 1.0})).copies("u/1", wave, 16000)[0]
    rate = float(speed[0].removeprefix("speed"))
    assert 0.8 <= rate <= 1.3 and abs(speed[1].size - wave.size / rate) < 600
    tag, noisy = Augmenter(AugmentConfig(copies=1, **{**only, "noise_prob": 1.0})).copies("u/1", wave, 16000)[0]
    snr = int(tag.removeprefix("noise").removesuffix("dB"))
    assert 10 <= snr <= 25
    measured = 10 * np.log10(np.mean(wave**2) / np.mean((noisy - wave) ** 2))
    assert measured == pytest.approx(snr, abs=0.01)
    tag, shifted = Augmenter(AugmentConfig(copies=1, **{**only, "pitch_shift_prob": 1.0})).copies("u/1", wave, 16000)[0]
    assert -3 <= float(tag.removeprefix("pitch").removesuffix("st")) <= 3 and shifted.size == wave.size


def test_noise_and_rir_directories(tmp_path):
    (tmp_path / "noise").mkdir()
    (tmp_path / "rir").mkdir()
    sf.write(tmp_path / "noise" / "hum.wav", 0.1 * np.sin(np.arange(4000) * 0.3), 8000)  # short: gets looped
    sf.write(tmp_path / "rir" / "room.wav", synthetic_rir(0.3, 16000, np.random.default_rng(0)), 16000)
    conf = AugmentConfig(copies=1, speed_prob=0, pitch_shift_prob=0, reverb_prob=1, noise_prob=1,
                         noise_dir=str(tmp_path / "noise"), rir_dir=str(tmp_path / "rir"))
    tag, wave = Augmenter(conf).copies("u/1", harmonic_tone(150.0, 1.0), 16000)[0]
    assert tag.startswith("rir-room+noise") and wave.size == 16000
    with pytest.raises(SertoolError, match="augment.noise_dir: directory not found"):
        build_config(AugmentConfig, {"noise_dir": str(tmp_path / "missing")}, "augment")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SertoolError, match="augment.rir_dir: no audio files"):
        build_config(AugmentConfig, {"rir_dir": str(tmp_path / "empty")}, "augment")


def test_helpers_keep_level():
    wave = harmonic_tone(150.0, 0.5)
    wet = reverberate(wave, synthetic_rir(0.5, 16000, np.random.default_rng(1)))
    assert wet.size == wave.size and np.sqrt(np.mean(wet**2)) == pytest.approx(np.sqrt(np.mean(wave**2)), rel=1e-4)
    silent = np.zeros(100, np.float32)
    np.testing.assert_array_equal(add_noise(silent, np.ones(100, np.float32), 10), silent)


def test_pipeline_stores_copies_beside_originals(tmp_path):
    manifest = make_corpus(tmp_path / "data", num_utts=3, speakers=1)
    conf = tmp_path / "conf.yaml"
    conf.write_text("augment: {copies: 2, seed: 1}\nrandom_resample: {copies: 1, seed: 2}\n")
    out = tmp_path / "feats"
    extract_features([manifest], out, "fbank", config=conf)
    reader = FeatureReader(out)
    plain = tmp_path / "plain"
    extract_features([manifest], plain, "fbank")
    for utt in reader.ids():
        augs = reader.augmentations(utt)
        assert augs[0] is None and augs[1] == "rr0" and len(augs) == 6
        copies = [a for a in augs if a and not a.endswith("rr0")]
        assert len(copies) == 2 and all(f"{c}+rr0" in augs for c in copies)
        np.testing.assert_array_equal(reader.read(utt), FeatureReader(plain).read(utt))  # original kept as is
        assert reader.frames(utt, "rr0") != reader.frames(utt) or not np.array_equal(reader.read(utt, "rr0"),
                                                                                   reader.read(utt))
    # CMVN counts originals only
    from sertool.features.cmvn import Cmvn

    assert Cmvn.load(out).global_.count == sum(reader.frames(u) for u in reader.ids())
