"""Synthetic audio and manifests for the features tests and benchmark (generated, never downloaded).

Example:
    >>> manifest = make_corpus(tmp_path, num_utts=6, speakers=2)
    >>> read_manifest(manifest)[0].speaker
    'synthetic/s0'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sertool.data.manifest import Utterance, write_manifest


def harmonic_tone(f0: float, seconds: float, sample_rate: int = 16000, harmonics: int = 5,
                  vibrato: float = 0.0, seed: int = 0) -> np.ndarray:
    """A voiced-like signal: ``harmonics`` partials of ``f0`` (± ``vibrato`` Hz at 5 Hz), faint noise."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    inst_f0 = f0 + vibrato * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(inst_f0) / sample_rate
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, harmonics + 1))
    x = x + 0.003 * np.random.default_rng(seed).standard_normal(t.size)
    return x.astype(np.float32)


def make_corpus(root: Path, num_utts: int = 6, speakers: int = 2, sample_rate: int = 16000,
                seconds: tuple[float, float] = (0.6, 1.4), seed: int = 0, name: str = "manifest.jsonl") -> Path:
    """Write ``num_utts`` WAVs (speaker s has base F0 120 + 60 s Hz, half-voiced) and their manifest."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    utts = []
    for i in range(num_utts):
        spk = i % speakers
        dur = float(rng.uniform(*seconds))
        voiced = harmonic_tone(120 + 60 * spk + rng.uniform(-10, 10), dur / 2, sample_rate, vibrato=8, seed=i)
        pause = 0.01 * rng.standard_normal(int(dur * sample_rate) - voiced.size).astype(np.float32)
        wave = np.concatenate([voiced, pause])
        path = root / f"utt{i:04d}.wav"
        sf.write(path, wave, sample_rate, subtype="PCM_16")
        utts.append(Utterance(
            id=f"synthetic/utt{i:04d}", corpus="synthetic", audio=str(path.resolve()),
            duration=wave.size / sample_rate, sample_rate=sample_rate, speaker=f"synthetic/s{spk}",
            gender="F" if spk % 2 else "M", language="en", session=None, style="synthetic",
        ))
    manifest = root / name
    write_manifest(manifest, utts)
    return manifest
