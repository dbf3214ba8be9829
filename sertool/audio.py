"""Reading audio: any format and channel count soundfile reads, down-mixed and resampled.

Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     clip = Path(d) / "clip.wav"
    ...     sf.write(str(clip), np.full((4410, 2), [0.5, -0.25], np.float32), 44100)   # 0.1 s stereo
    ...     info = audio_info(clip)
    ...     wave, sr = read_audio(clip, sample_rate=16000)
    >>> info
    (0.1, 44100)
    >>> wave.dtype, wave.shape, sr, round(float(wave[800]), 3)      # down-mixed to mono, resampled
    (dtype('float32'), (1600,), 16000, 0.125)
    >>> read_audio("missing.wav")
    Traceback (most recent call last):
    ...
    sertool.errors.SertoolError: audio file not found: missing.wav
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sertool.errors import SertoolError


def audio_info(path: str | Path) -> tuple[float, int]:
    """Duration in seconds and sample rate of a file on disk, without reading its samples."""
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SertoolError(f"cannot read audio file {path}: {e}") from None
    return info.frames / info.samplerate, int(info.samplerate)


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32 in [-1, 1], resampled to ``sample_rate`` when given.

    Raises :class:`SertoolError` for a missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise SertoolError(f"audio file not found: {path}")
    try:
        with sf.SoundFile(str(path)) as f:
            sr = f.samplerate
            if f.subtype == "PCM_16":
                # integers scaled in numpy: the same floats libsndfile makes (x / 32768), in half the time
                wave = f.read(dtype="int16", always_2d=True).astype(np.float32)
                wave *= np.float32(1.0 / 32768.0)
            else:
                wave = f.read(dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SertoolError(f"cannot read audio file {path}: {e}") from None
    if wave.shape[0] == 0:
        raise SertoolError(f"audio file has no samples: {path}")
    wave = wave.mean(axis=1) if wave.shape[1] > 1 else wave[:, 0]
    if sample_rate is not None and sr != sample_rate:
        wave, sr = resample(wave, sr, sample_rate), sample_rate
    return np.ascontiguousarray(wave, dtype=np.float32), int(sr)


def resample(wave: np.ndarray, sample_rate: int, to_rate: int) -> np.ndarray:
    """``wave`` at ``to_rate`` (soxr, high quality: what the features stage and inference both use)."""
    if sample_rate == to_rate:
        return np.asarray(wave, dtype=np.float32)
    return soxr.resample(np.asarray(wave, dtype=np.float32), sample_rate, to_rate, quality="HQ").astype(np.float32)


def write_audio(path: str | Path, wave: np.ndarray, sample_rate: int) -> None:
    """Write 16-bit PCM WAV atomically (a killed writer leaves no complete-looking file)."""
    from sertool.stage import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.clip(wave, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
