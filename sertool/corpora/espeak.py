"""A small ctypes binding to the eSpeak NG library shipped by the ``espeakng-loader`` wheel.

Only what the synthetic corpus needs: choose a voice (language + variant), set rate, pitch,
pitch range and volume, and synthesise UTF-8 text to a float32 waveform at the library's
sample rate (22050 Hz). :func:`get_engine` returns the process's engine, made on first use with
the wheel's data directory given explicitly (a wrong or missing path would otherwise make the
library call ``exit(1)``). Every call runs in a fresh instance of the library, so its output
depends only on its arguments (see :class:`Engine`).

Example:
    >>> engine = get_engine()
    >>> wave = engine.synthesise("Kids are talking by the door.", voice="en+m3", prosody=Prosody(rate=175))
    >>> wave.dtype, engine.sample_rate
    (dtype('float32'), 22050)
    >>> engine.synthesise("你好", voice="cmn+f2").size > 0
    True
"""

from __future__ import annotations

import _ctypes
import ctypes
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sertool.errors import SertoolError

# speak_lib.h constants (API revision 12).
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_EE_NOT_FOUND = 2
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4

RATE_MIN, RATE_MAX = 80, 450  # words per minute, as the library clamps them

# int callback(short *wav, int numsamples, espeak_EVENT *events); events are not needed here.
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _wheel_paths() -> tuple[Path, Path]:
    """Library file and data directory of the ``espeakng-loader`` wheel."""
    try:
        import espeakng_loader
    except ImportError:
        raise SertoolError("espeakng-loader is not installed (pip install espeakng-loader)") from None
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


def available_variants(data_path: Path | None = None) -> list[str]:
    """Names of the voice variants in the data directory (``m1``…``m8``, ``f1``…``f5``, …)."""
    data_path = data_path or _wheel_paths()[1]
    return sorted(p.name for p in (data_path / "voices" / "!v").iterdir() if p.is_file())


@dataclass(frozen=True)
class Prosody:
    """eSpeak NG's own prosody settings (the ``espeak_SetParameter`` scales).

    rate: words per minute (80–450, 175 normal); pitch: base pitch 0–100 (50 normal);
    range: pitch range 0–100 (0 monotone, 50 normal); volume: 0–200 (100 normal).
    """

    rate: int = 175
    pitch: int = 50
    range: int = 50
    volume: int = 100


def _private_copy(library: Path) -> Path:
    """A copy of ``library`` in the user's cache (``$XDG_CACHE_HOME/sertool``), made once.

    Loading the copy gives an instance of the library that nothing else in the process holds
    (a second load of the same file would share its state), so unloading it really unloads it.
    Where the cache cannot be written, the copy goes to a fresh private temporary directory.
    """
    st = library.stat()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = base / "sertool" / "espeak" / f"{st.st_size}-{st.st_mtime_ns}" / library.name
    if target.is_file() and target.stat().st_size == st.st_size:
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{library.name}.{os.getpid()}.tmp")
        shutil.copyfile(library, tmp)
        os.replace(tmp, target)  # atomic: concurrent workers never load a half-written copy
        return target
    except OSError:
        target = Path(tempfile.mkdtemp(prefix="sertool-espeak-")) / library.name
        shutil.copyfile(library, target)
        return target


class Engine:
    """eSpeak NG synthesis to numpy, through a fresh instance of the library for every call.

    eSpeak NG keeps state between calls that its API cannot reset (the phase of its pitch
    flutter, the echo buffer, its random generator), so one long-lived instance makes the audio of
    a sentence depend on everything said before it, and a corpus made by several workers depend
    on which worker said what. The engine therefore loads a private copy of the library file,
    synthesises, and unloads it again (about 5 ms per call), so the same call always gives the
    same samples. The private copy also keeps this instance apart from any other user of the
    library in the process.
    """

    def __init__(self, library: Path, data_path: Path):
        if not (data_path / "phontab").is_file():
            # Checked here because the library, given a wrong path, looks elsewhere and may exit.
            raise SertoolError(f"eSpeak NG data directory not found or incomplete: {data_path}")
        if not library.is_file():
            raise SertoolError(f"eSpeak NG library not found: {library}")
        self.data_path = data_path
        self._variants = set(available_variants(data_path))
        self._library = _private_copy(library)
        # libc's rand() is process-wide and the library draws voicing noise from it: seeded per call.
        self._libc = ctypes.CDLL(None)
        self._libc.srand.argtypes = [ctypes.c_uint]
        self._libc.srand.restype = None
        self._chunks: list[np.ndarray] = []
        # Keep a reference to the callback object: the library holds only its C pointer.
        self._callback = _SYNTH_CALLBACK(self._collect)
        self._lock = threading.Lock()  # one synthesis at a time per engine
        self.sample_rate = 0
        with self._lock:
            lib = self._open()
            self._close(lib)

    def _open(self) -> ctypes.CDLL:
        """Load and initialise a fresh instance of the library (call with the lock held)."""
        try:
            lib = ctypes.CDLL(str(self._library))
        except OSError as e:
            raise SertoolError(f"cannot load the eSpeak NG library {self._library}: {e}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
        rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), _INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            self._close(lib, initialised=False)
            raise SertoolError(f"eSpeak NG failed to initialise with data directory {self.data_path}")
        self.sample_rate = int(rate)
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    @staticmethod
    def _close(lib: ctypes.CDLL, initialised: bool = True) -> None:
        """Terminate and unload an instance, so the next :meth:`_open` starts from scratch."""
        if initialised:
            lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)

    def _collect(self, wav, numsamples: int, events) -> int:
        # A NULL buffer marks the end; a zero-length one is allowed and means nothing.
        if wav and numsamples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0

    def _set_voice(self, lib: ctypes.CDLL, voice: str) -> None:
        """Select ``voice``: a language or voice name, optionally ``+variant`` (``cmn+f2``)."""
        _, _, variant = voice.partition("+")
        if variant and variant not in self._variants:
            # The library silently ignores an unknown variant; an unknown voice is an error here.
            raise SertoolError(f"unknown eSpeak NG voice variant {variant!r} in {voice!r}")
        status = lib.espeak_SetVoiceByName(voice.encode())
        if status != _EE_OK:
            reason = "not found" if status == _EE_NOT_FOUND else f"error {status}"
            raise SertoolError(f"eSpeak NG voice {voice!r}: {reason}")

    def synthesise(self, text: str, voice: str, prosody: Prosody = Prosody(), seed: int = 0) -> np.ndarray:
        """Speak ``text`` with ``voice`` and ``prosody``; float32 samples in [-1, 1] at ``sample_rate``.

        ``seed`` seeds the library's random generators (breath noise of some variants), so the
        same arguments always give the same samples.
        """
        if not text.strip():
            raise SertoolError("eSpeak NG: nothing to say (empty text)")
        data = text.encode("utf-8")
        with self._lock:
            lib = self._open()
            try:
                self._set_voice(lib, voice)
                # Parameters are set after the voice: selecting a voice resets them to its defaults.
                for param, value in (
                    (_PARAM_RATE, min(max(int(prosody.rate), RATE_MIN), RATE_MAX)),
                    (_PARAM_PITCH, min(max(int(prosody.pitch), 0), 100)),
                    (_PARAM_RANGE, min(max(int(prosody.range), 0), 100)),
                    (_PARAM_VOLUME, min(max(int(prosody.volume), 0), 200)),
                ):
                    lib.espeak_SetParameter(param, value, 0)
                self._chunks = []
                lib.espeak_ng_SetRandSeed(seed)
                self._libc.srand(seed & 0xFFFFFFFF)
                status = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
                lib.espeak_Synchronize()
                chunks, self._chunks = self._chunks, []
            finally:
                self._close(lib)
        if status != _EE_OK:
            raise SertoolError(f"eSpeak NG synthesis failed (error {status}) for {text[:40]!r}")
        if not chunks:
            raise SertoolError(f"eSpeak NG produced no audio for {text[:40]!r} with voice {voice!r}")
        return np.concatenate(chunks).astype(np.float32) / 32768.0


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def get_engine() -> Engine:
    """This process's engine, initialised on first call from the ``espeakng-loader`` wheel."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            library, data_path = _wheel_paths()
            _ENGINE = Engine(library, data_path)
        return _ENGINE
