"""Synthetic audio for tests, examples and benchmarks: tones, WAV files and a small WAV corpus.

Example:
    >>> tone = harmonic_tone(200.0, 0.5)
    >>> tone.dtype, tone.shape
    (dtype('float32'), (8000,))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sertool.data.manifest import Utterance, write_manifest


def harmonic_tone(f0: float, seconds: float, sample_rate: int = 16000, harmonics: int = 5,
                  vibrato: float = 0.0, seed: int = 0) -> np.ndarray:
    """A voiced-like signal: ``harmonics`` partials of ``f0`` (± ``vibrato`` Hz at 5 Hz), faint noise.

    Example:
        >>> x = harmonic_tone(120.0, 1.0, sample_rate=8000, harmonics=3)
        >>> spectrum = np.abs(np.fft.rfft(x))                   # 1 s long: bin k is k Hz
        >>> x.shape, sorted(np.argsort(spectrum)[-3:].tolist())
        ((8000,), [120, 240, 360])
    """
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    inst_f0 = f0 + vibrato * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(inst_f0) / sample_rate
    x = sum(0.3 / k * np.sin(k * phase) for k in range(1, harmonics + 1))
    x = x + 0.003 * np.random.default_rng(seed).standard_normal(t.size)
    return x.astype(np.float32)


def write_wav(path: Path, sample_rate: int = 16000, seconds: float = 0.2, silent: bool = False,
              fmt: str | None = None) -> Path:
    """Write ``seconds`` of quiet noise (or digital silence) at ``sample_rate``, 16-bit, creating folders.

    The noise is seeded by the length of the file name, so a file's content depends on its name only.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     info = sf.info(str(write_wav(Path(d) / "a" / "clip.wav", sample_rate=8000)))
        >>> info.samplerate, info.frames, info.subtype
        (8000, 1600, 'PCM_16')
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(sample_rate * seconds)
    rng = np.random.default_rng(len(path.name))
    wave = np.zeros(n, dtype=np.float32) if silent else (0.1 * rng.standard_normal(n)).astype(np.float32)
    sf.write(str(path), wave, sample_rate, subtype="PCM_16", format=fmt)
    return path


def make_corpus(root: Path, num_utts: int = 6, speakers: int = 2, sample_rate: int = 16000,
                seconds: tuple[float, float] = (0.6, 1.4), seed: int = 0, name: str = "manifest.jsonl") -> Path:
    """Write ``num_utts`` WAVs (speaker s has base F0 120 + 60 s Hz, half-voiced) and their manifest.

    Returns the manifest's path (``root / name``); utterance ``i`` is spoken by speaker ``i % speakers``.

    Example:
        >>> import tempfile
        >>> from sertool.data.manifest import read_manifest
        >>> with tempfile.TemporaryDirectory() as d:
        ...     utts = read_manifest(make_corpus(Path(d), num_utts=3, speakers=2))
        >>> [(u.id, u.speaker, u.gender) for u in utts]
        [('synthetic/utt0000', 'synthetic/s0', 'M'), ('synthetic/utt0001', 'synthetic/s1', 'F'),
         ('synthetic/utt0002', 'synthetic/s0', 'M')]
    """
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
