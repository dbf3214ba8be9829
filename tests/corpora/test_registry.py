"""The corpus registry: every corpus has a spec, a loadable preparer and a ``sertool prep`` command."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import typer

from sertool.cli import prep as prep_cli
from sertool.corpora import download
from sertool.corpora.registry import BUILT_IN, CORPORA, DOWNLOADS, CorpusSpec, corpus_spec
from sertool.errors import SertoolError


def _commands() -> dict[str, Any]:
    """The ``sertool prep`` sub-commands by name (click commands, as Typer builds them)."""
    return dict(typer.main.get_command(prep_cli.app).commands)


def _options(command: Any) -> dict[str, Any]:
    """A command's parameters by option string (``--protocol``, ``-k``, ...)."""
    return {opt: p for p in command.params for opt in p.opts}


def test_unknown_corpus_is_a_one_line_error():
    with pytest.raises(SertoolError) as e:
        corpus_spec("timit")
    message = str(e.value)
    assert message == f"unknown corpus 'timit' (known: {', '.join(sorted(BUILT_IN))})"
    assert "\n" not in message


def test_unknown_corpus_on_the_command_line(cli, tmp_path):
    from sertool.corpora.prepare import prepare_corpus

    with pytest.raises(SertoolError, match=r"unknown corpus 'timit' \(known: aishell, casia, crema-d"):
        prepare_corpus("timit", tmp_path, tmp_path / "out")
    result = cli("prep", "timit", tmp_path, tmp_path / "out")
    assert result.exit_code != 0 and "timit" in result.output


def test_every_corpus_is_registered_once_in_cli_order():
    assert BUILT_IN == ("iemocap", "ravdess", "crema-d", "casia", "esd", "librispeech", "aishell", "folder",
                        "synthetic")
    assert CORPORA.names() == sorted(BUILT_IN)
    with pytest.raises(ValueError, match="registered twice"):
        CORPORA.add("ravdess", CorpusSpec("ravdess", "sertool.corpora.iemocap:prepare_iemocap", "speaker-kfold", 5))


def test_every_registered_corpus_has_a_cli_command():
    commands = _commands()
    assert set(commands) == set(CORPORA.names())


@pytest.mark.parametrize("name", BUILT_IN)
def test_cli_command_matches_the_spec(name):
    """The command's defaults are the spec's; --download exactly where the corpus can be asked for."""
    spec = corpus_spec(name)
    options = _options(_commands()[name])
    assert options["--protocol"].default == spec.default_protocol
    assert options["--folds"].default == spec.default_folds
    assert ("--download" in options) == (spec.download != "none")
    if "--mirror" in options:
        assert spec.download == "direct"
    arguments = [p.name for p in _commands()[name].params if p.param_type_name == "argument"]
    assert arguments == (["out_dir"] if spec.generated else ["corpus_dir", "out_dir"])


@pytest.mark.parametrize("name", BUILT_IN)
def test_spec_loads_the_preparer_and_its_contract(name):
    spec = corpus_spec(name)
    prepare = spec.load()
    assert prepare.__name__ == f"prepare_{name.replace('-', '_')}" and callable(prepare)
    module = spec.module()
    assert inspect.getmodule(prepare) is module
    params = inspect.signature(prepare).parameters
    assert {"protocol", "k", "seed", "jobs"} <= set(params)
    assert params["protocol"].default == spec.default_protocol
    if spec.generated:
        assert isinstance(module.GENERATOR_VERSION, int) and "out_dir" == next(iter(params))
    else:
        assert spec.default_protocol in module.PROTOCOLS
        assert isinstance(module.LAYOUT, str) and module.FINGERPRINT
        assert list(params)[:2] == ["corpus_dir", "out_dir"]


def test_download_kinds_match_the_download_table():
    for name in BUILT_IN:
        kind = corpus_spec(name).download
        assert kind in DOWNLOADS
        assert (kind == "direct") == (name in download.SOURCES), name
        assert (kind == "on-request") == (name in download.NOT_DOWNLOADABLE), name


def test_spec_validation_and_marker_names():
    with pytest.raises(ValueError, match="download must be one of"):
        CorpusSpec("x", "m:f", "speaker-kfold", 5, download="torrent")
    with pytest.raises(ValueError, match="generated corpus cannot be downloaded"):
        CorpusSpec("x", "m:f", "speaker-kfold", 5, download="direct", generated=True)
    spec = corpus_spec("synthetic")
    assert spec.marker_settings({"k": 4, "seed": 0}) == {"folds": 4, "seed": 0}
    assert corpus_spec("ravdess").marker_settings({"k": 4}) == {"k": 4}


def test_a_plugin_name_must_be_a_spec():
    before = CORPORA.names()
    with pytest.raises(SertoolError, match="not a corpus specification"):
        corpus_spec("sertool.corpora.ravdess:prepare_ravdess")
    assert CORPORA.names() == before  # not kept
