"""Fixtures shared across test folders."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny log-mel SA-CNN-BLSTM (emotion + gender) trained one epoch with a 1 s training length: its EXP."""
    from sertool.testing.inference import train_tiny_model

    return train_tiny_model(tmp_path_factory.mktemp("tiny-model"), max_seconds=1.0)


# The recipes' stand-in dry runs take minutes each; started first, in this order, they run beside
# the many short tests on the other worker (`pytest -n 2 --dist worksteal`, tools/test.sh) instead of
# after them.
LONGEST_FIRST = ("test_speecheq_stand_in", "test_selective_mtl_stand_in", "test_sa_cnn_blstm_stand_in",
                 "test_decomposed_stand_in", "test_ssl_mtl_stand_in")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.name, len(rank)))
