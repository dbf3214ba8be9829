"""Fixture helpers shared by the corpus tests: tiny WAV files, the CLI, reading outputs back.

Every corpus test builds a miniature tree in the corpus's exact layout under ``tmp_path``; these
helpers keep that short.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from sertool.data.folds import leaking_speakers, read_folds
from sertool.data.manifest import Utterance, read_manifest


def _write_wav(path: Path, sample_rate: int = 16000, seconds: float = 0.2, silent: bool = False,
               fmt: str | None = None) -> Path:
    """0.2 s of quiet noise (or digital silence) at ``sample_rate``, 16-bit, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(sample_rate * seconds)
    rng = np.random.default_rng(len(path.name))
    wave = np.zeros(n, dtype=np.float32) if silent else (0.1 * rng.standard_normal(n)).astype(np.float32)
    sf.write(str(path), wave, sample_rate, subtype="PCM_16", format=fmt)
    return path


@pytest.fixture
def write_wav() -> Callable[..., Path]:
    """``write_wav(path, sample_rate=16000, seconds=0.2, silent=False, fmt=None)``."""
    return _write_wav


@dataclass
class CliResult:
    """Exit code, output with whitespace collapsed (rich wraps at the terminal width), raw output."""

    exit_code: int
    output: str
    raw: str


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """``cli("prep", "ravdess", ...)`` runs ``sertool`` in-process."""
    from sertool.cli.main import app

    runner = CliRunner()

    def invoke(*args: str) -> CliResult:
        result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
        return CliResult(result.exit_code, " ".join(result.output.split()), result.output)

    return invoke


def load_outputs(out_dir: Path) -> tuple[dict[str, Utterance], str, list, dict]:
    """Manifest by id, folds protocol, folds and summary of a prep output directory."""
    utts = {u.id: u for u in read_manifest(out_dir / "manifest.jsonl")}
    protocol, folds = read_folds(out_dir / "folds.json")
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    return utts, protocol, folds, summary


def check_folds(utts: dict[str, Utterance], folds: list, speaker_independent: bool) -> None:
    """Every fold: train, dev and test non-empty (dev may be empty only if asked), disjoint, all ids known;
    speaker-independent exactly when expected."""
    for f in folds:
        train, dev, test = set(f.train), set(f.dev), set(f.test)
        assert train and test, f.name
        assert not (train & dev or train & test or dev & test), f.name
        assert train | dev | test <= set(utts), f.name
        leak = leaking_speakers(f, utts.values())
        if speaker_independent:
            assert not leak, (f.name, leak)
    if not speaker_independent:
        assert any(leaking_speakers(f, utts.values()) for f in folds)


@pytest.fixture
def outputs() -> Callable[[Path], tuple]:
    return load_outputs


@pytest.fixture
def folds_ok() -> Callable[..., None]:
    return check_folds
