"""Fixtures shared across test folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny log-mel SA-CNN-BLSTM (emotion + gender) trained one epoch with a 1 s training length: its EXP."""
    from sertool.testing.inference import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("tiny-model"), max_seconds=1.0)
