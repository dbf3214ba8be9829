"""The docstring examples (``>>>``) of sertool's modules run and show what they claim.

Two checks: the modules whose examples are meant to be read as their executable documentation
each run at least one example, all passing; and every other module's ``>>>`` examples pass too,
so an example added anywhere that does not run fails the suite. Examples that cannot run
(a corpus on disk, a trained model) are written as ``Example::`` literal blocks without prompts.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import sertool

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Modules whose examples are runnable documentation: each must run at least one example.
DOCUMENTED = (
    "sertool.audio",
    "sertool.console",
    "sertool.corpora.scan",
    "sertool.data.folds",
    "sertool.data.labels",
    "sertool.data.manifest",
    "sertool.data.tokens",
    "sertool.errors",
    "sertool.export",
    "sertool.evaluation.metrics",
    "sertool.features.augment",
    "sertool.features.cmvn",
    "sertool.features.config",
    "sertool.features.extractors",
    "sertool.features.pitch",
    "sertool.features.random_resample",
    "sertool.features.spectral",
    "sertool.features.storage",
    "sertool.registry",
    "sertool.schedules",
    "sertool.stage",
    "sertool.tasks.losses",
    "sertool.tasks.weighting",
    "sertool.testing.audio",
    "sertool.cli.testing",
    "sertool.testing.corpora",
    "sertool.train.optim",
    "sertool.train.config",
    "sertool.train.inputs",
    "sertool.train.sources",
    "sertool.models.registry",
    "sertool.models.multitask",
    "sertool.models.sa_cnn_blstm",
    "sertool.models.ecapa_tdnn",
    "sertool.models.blstm_attention",
    "sertool.models.decomposed",
    "sertool.layers.resample",
    "sertool.train.init_from",
    "sertool.tasks.reconstruction",
    "sertool.evaluation.report",
    "sertool.inference.sources",
    "sertool.inference.plan",
    "sertool.inference.records",
    "sertool.inference.output",
    "sertool.testing.inference",
    "sertool.version",
)

# Modules whose examples cannot run yet, each with the reason.
EXCLUDED = {
    "sertool.corpora.folder",  # its module example prepares a corpus on disk (rewritten with the label checks)
}

ALL_MODULES = sorted(m.name for m in pkgutil.walk_packages(sertool.__path__, prefix="sertool."))


def run_doctests(name: str) -> doctest.TestResults:
    """Run the examples of module ``name`` in its own globals (failures are printed to stdout)."""
    module = importlib.import_module(name)
    try:
        return doctest.testmod(module, optionflags=OPTIONFLAGS, report=False)
    finally:
        doctest.master = None  # no summing of outcomes across runs of the same module


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_module_examples_run_and_pass(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # an example that writes a relative path writes it here
    failed, attempted = run_doctests(name)
    assert attempted >= 1, f"{name} has no runnable example"
    assert failed == 0, f"{failed} of {attempted} examples of {name} failed (see the captured stdout)"


@pytest.mark.parametrize("name", [m for m in ALL_MODULES if m not in EXCLUDED])
def test_every_module_examples_pass(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    failed, attempted = run_doctests(name)
    assert failed == 0, f"{failed} of {attempted} examples of {name} failed (see the captured stdout)"


def test_lists_name_existing_modules() -> None:
    assert set(DOCUMENTED) <= set(ALL_MODULES)
    assert not set(DOCUMENTED) & EXCLUDED
