"""Fixtures shared by the corpus tests: tiny WAV files, the CLI, reading outputs back.

Every corpus test builds a miniature tree in the corpus's exact layout under ``tmp_path``; the
helpers behind these fixtures live in :mod:`sertool.testing`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sertool.cli import testing as sertool_cli
from sertool.testing import audio, corpora


@pytest.fixture
def write_wav() -> Callable[..., Path]:
    """``write_wav(path, sample_rate=16000, seconds=0.2, silent=False, fmt=None)``."""
    return audio.write_wav


@pytest.fixture
def cli() -> Callable[..., sertool_cli.CliResult]:
    """``cli("prep", "ravdess", ...)`` runs ``sertool`` in-process."""
    return sertool_cli.run_cli


@pytest.fixture
def outputs() -> Callable[[Path], tuple]:
    """``outputs(out_dir)``: manifest by id, folds protocol, folds and summary of a prep output."""
    return corpora.load_outputs


@pytest.fixture
def folds_ok() -> Callable[..., None]:
    """``folds_ok(utts, folds, speaker_independent)``: assert the folds are well formed."""
    return corpora.check_folds
