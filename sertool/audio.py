"""Reading audio: any format and channel count soundfile reads, down-mixed and resampled.

A WAV file cut short (a copy or download that stopped) still opens: libsndfile shortens its frame
count to the bytes present without a word, so :func:`check_truncated` compares the header's data
size with the file's size, for ``prep`` to skip such files and inference to warn about them.

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

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from sertool.errors import SertoolError

# Data-chunk sizes that streaming writers leave in a header they never rewrite: unknown length.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def _require_file(path: Path) -> None:
    """A one-line error unless ``path`` is a file: a directory is named as such, not as missing."""
    if path.is_dir():
        raise SertoolError(f"{path} is a directory, not an audio file")
    if not path.is_file():
        raise SertoolError(f"audio file not found: {path}")


def check_truncated(path: str | Path) -> str | None:
    """Why the WAV file ``path`` is truncated (its header promises more sample bytes than follow), or None.

    Only RIFF/RIFX/RF64 WAVE files are checked (other formats give None): the ``data`` chunk's
    size (RF64: the ``ds64`` chunk's) is compared with the bytes after the chunk's start. A size
    of 0 or 0xFFFFFFFF is what streaming writers leave when they cannot seek back, so it means
    "unknown", not truncated. A file that ends before its ``data`` chunk is truncated too.
    Unreadable files give None: the readers report those.

    Example::

        check_truncated("ok.wav")        # None
        check_truncated("cut.wav")       # 'header promises 32000 bytes of samples (1.00 s), the file holds
                                         #  12000 (0.38 s)'
        check_truncated("clip.flac")     # None: not a WAV
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
                return None
            order = ">" if head[:4] == b"RIFX" else "<"
            byte_rate, ds64_size, pos = 0, None, 12
            while True:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return "the file ends before its data chunk"
                cid, n = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
                if cid == b"data":
                    break
                body = f.read(16) if cid in (b"fmt ", b"ds64") else b""
                if cid == b"fmt " and len(body) >= 12:
                    byte_rate = struct.unpack(order + "I", body[8:12])[0]
                elif cid == b"ds64" and len(body) == 16:
                    ds64_size = struct.unpack("<Q", body[8:16])[0]  # after the 64-bit RIFF size
                pos += 8 + n + (n & 1)  # chunks are padded to an even length
    except OSError:
        return None
    if head[:4] == b"RF64" and n == 0xFFFFFFFF:
        n = ds64_size if ds64_size is not None else 0
    present = max(size - (pos + 8), 0)
    if n in _UNKNOWN_SIZES or n <= present:
        return None
    return (f"header promises {n} bytes of samples{_seconds(n, byte_rate)}, "
            f"the file holds {present}{_seconds(present, byte_rate)}")


def _seconds(nbytes: int, byte_rate: int) -> str:
    """`` (1.25 s)`` of ``nbytes`` sample bytes, empty when the header gave no byte rate."""
    return f" ({nbytes / byte_rate:.2f} s)" if byte_rate else ""


def audio_info(path: str | Path) -> tuple[float, int]:
    """Duration in seconds and sample rate of a file on disk, without reading its samples.

    The duration is libsndfile's: for a truncated WAV, that of the samples present (see
    :func:`check_truncated`).
    """
    path = Path(path)
    _require_file(path)
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SertoolError(f"cannot read audio file {path}: {e}") from None
    return info.frames / info.samplerate, int(info.samplerate)


def open_audio(path: str | Path) -> sf.SoundFile:
    """``path`` opened for reading (use it as a context manager); one-line :class:`SertoolError` otherwise.

    A missing file, a directory and a file libsndfile cannot open are each named as such.
    """
    path = Path(path)
    _require_file(path)
    try:
        return sf.SoundFile(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:
        raise SertoolError(f"cannot read audio file {path}: {e}") from None


def read_mono(f: sf.SoundFile, frames: int = -1) -> np.ndarray:
    """Up to ``frames`` frames (-1: the rest) from ``f``'s current position, down-mixed to mono float32.

    Reading a long file block by block (``f.seek(start)``, then ``read_mono(f, n)``) keeps memory
    to one block. 16-bit PCM is scaled in numpy: the floats libsndfile makes, in half the time.
    """
    if f.subtype == "PCM_16":
        wave = f.read(frames, dtype="int16", always_2d=True).astype(np.float32)
        wave *= np.float32(1.0 / 32768.0)
    else:
        wave = f.read(frames, dtype="float32", always_2d=True)
    wave = wave.mean(axis=1, dtype=np.float32) if wave.shape[1] > 1 else wave[:, 0]
    return np.ascontiguousarray(wave, dtype=np.float32)


def read_audio(path: str | Path, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Read ``path`` as mono float32 in [-1, 1], resampled to ``sample_rate`` when given.

    Raises :class:`SertoolError` for a missing, unreadable or empty file, or a directory.
    A truncated WAV reads as the samples present (see :func:`check_truncated`).
    """
    path = Path(path)
    with open_audio(path) as f:
        sr = f.samplerate
        try:
            wave = read_mono(f)
        except (RuntimeError, sf.LibsndfileError) as e:
            raise SertoolError(f"cannot read audio file {path}: {e}") from None
    if wave.shape[0] == 0:
        raise SertoolError(f"audio file has no samples: {path}")
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
