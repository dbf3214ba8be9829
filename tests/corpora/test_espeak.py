"""The eSpeak NG ctypes binding: audio for English and Mandarin, errors instead of exits.

Example:
    $ python -m pytest tests/corpora/test_espeak.py -q
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sertool.corpora.espeak import Engine, Prosody, available_variants, get_engine
from sertool.errors import SertoolError


def test_english_and_mandarin_give_audio() -> None:
    engine = get_engine()
    assert engine.sample_rate == 22050
    en = engine.synthesise("The folder is on the second shelf.", "en+m1")
    zh = engine.synthesise("桌子上有一本书。", "cmn+f2")
    for wave in (en, zh):
        assert wave.dtype == np.float32 and wave.ndim == 1
        assert 0.5 < wave.size / engine.sample_rate < 5.0
        assert 0.05 < np.abs(wave).max() <= 1.0


def test_variants_of_the_wheel() -> None:
    variants = set(available_variants())
    assert {f"m{i}" for i in range(1, 9)} | {f"f{i}" for i in range(1, 6)} <= variants


def test_rate_changes_duration_and_same_input_same_audio() -> None:
    engine = get_engine()
    text = "The train leaves the station at half past nine."
    slow = engine.synthesise(text, "en+f1", Prosody(rate=100))
    fast = engine.synthesise(text, "en+f1", Prosody(rate=300))
    assert slow.size > 1.8 * fast.size
    # Deterministic: the same call gives the same samples (the corpus relies on it).
    assert np.array_equal(fast, engine.synthesise(text, "en+f1", Prosody(rate=300)))


@pytest.mark.parametrize("voice", ["no-such-language", "en+zz"])
def test_unknown_voice_raises(voice: str) -> None:
    with pytest.raises(SertoolError, match="voice"):
        get_engine().synthesise("hello", voice)
    # The engine still works afterwards.
    assert get_engine().synthesise("hello", "en").size > 0


def test_empty_text_raises() -> None:
    with pytest.raises(SertoolError, match="empty"):
        get_engine().synthesise("  ", "en")


def test_wrong_data_path_raises_instead_of_exiting(tmp_path: Path) -> None:
    with pytest.raises(SertoolError, match="data directory"):
        Engine(Path("/nonexistent/libespeak-ng.so"), tmp_path / "missing")
