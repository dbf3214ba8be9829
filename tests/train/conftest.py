"""A tiny two-corpus fixture, generated once per session with the CLI (never downloaded).

- ``en``: 4 English speakers × 4 emotions × 3 utterances (48), speaker-kfold with 4 folds (2 training
  speakers, 1 dev, 1 test per fold), studio and telephone channels, phones, eis.
- ``zh``: 2 Mandarin speakers × 4 emotions × 1 utterance (8), used as a corpus outside the folds
  (e.g. a read-speech corpus training pinyin CTC and gender only).

Features: ``feats/fbank`` (80-d, 10 ms) and ``feats/logmel`` (384-d, 25 ms) for both; on request
(``decomposed_feats``) the decomposed-speech recipe's ``speechsplit`` spectrogram and 16 ms RAPT ``pitch`` of ``en``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.cli.testing import invoke  # noqa: E402

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("corpus")
    invoke("prep", "synthetic", root / "en", "--speakers", 4, "--per-class", 3, "--languages", "en", "--jobs", 2)
    invoke("prep", "synthetic", root / "zh", "--speakers", 2, "--per-class", 1, "--languages", "zh",
           "--protocol", "stratified-kfold", "--folds", 2, "--jobs", 2)
    invoke("features", root / "en" / "manifest.jsonl", root / "zh" / "manifest.jsonl", root / "feats",
           "--extractor", "fbank+logmel", "--jobs", 2)
    return {"root": root, "en": root / "en", "zh": root / "zh", "fbank": root / "feats" / "fbank",
            "logmel": root / "feats" / "logmel"}


@pytest.fixture(scope="session")
def decomposed_feats(corpus) -> dict[str, Path]:
    """SpeechSplit spectrogram and RAPT pitch (16 ms, aligned one to one) of the ``en`` corpus."""
    out = corpus["root"] / "decomposed"
    invoke("features", corpus["en"] / "manifest.jsonl", out, "--extractor", "speechsplit+pitch",
           "--config", RECIPES / "decomposed" / "features.yaml", "--jobs", 2)
    return {"speechsplit": out / "speechsplit", "pitch": out / "pitch"}
