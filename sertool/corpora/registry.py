"""The corpus registry: every corpus ``sertool prep`` knows, by name, with what the stage needs.

Each corpus is a :class:`CorpusSpec` in :data:`CORPORA`: its preparation entry point (the
``prepare_<corpus>`` function, named ``"module:function"`` so the module loads only when the
corpus is prepared), the default fold protocol and number of folds of its ``sertool prep``
command, and whether it can be downloaded. The entry point's module provides the rest of the
contract :func:`~sertool.corpora.prepare.prepare_corpus` relies on:

* ``PROTOCOLS``: the fold protocols that apply (checked before any work);
* ``LAYOUT``: what the corpus directory must hold, for the missing-directory message;
* ``FINGERPRINT``: glob patterns of the files the preparer reads, whose paths, sizes and mtimes
  make the ``.done`` marker's inputs fingerprint;
* optionally ``resolve_inputs(options)``: files outside the corpus directory the preparer reads
  (see :func:`sertool.corpora.folder.resolve_inputs`);
* for a generated corpus (no corpus directory) ``GENERATOR_VERSION`` instead of the three
  constants, bumped whenever its output changes.

A new corpus needs its own module and one :class:`CorpusSpec` in :data:`BUILT_IN_SPECS` (from
outside sertool: ``register_corpus(CorpusSpec(...))``, or a ``"module:SPEC"`` name), plus its
``sertool prep`` command in the CLI (a test checks every corpus has one).

Example::

    spec = CORPORA.get("ravdess")
    spec.default_protocol, spec.default_folds, spec.download   # ('speaker-kfold', 5, 'direct')
    spec.load()                                                # sertool.corpora.ravdess.prepare_ravdess
    CORPORA.get("timit")   # SertoolError: unknown corpus 'timit' (known: aishell, casia, ...)
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from sertool.errors import SertoolError
from sertool.registry import Registry, import_plugin

if TYPE_CHECKING:
    from sertool.corpora.common import PrepReport

#: How a corpus can be fetched: by :func:`~sertool.corpora.download.download_corpus` ("direct"),
#: on request from its publisher only ("on-request": ``--download`` says where to ask), or not at
#: all ("none": a corpus of one's own, or a generated one).
DOWNLOADS = ("direct", "on-request", "none")

PrepareFn = Callable[..., "PrepReport"]


@dataclass(frozen=True)
class CorpusSpec:
    """One corpus of ``sertool prep``: its entry point and the defaults of its command.

    ``prepare`` is ``"package.module:function"`` or the function itself; it is called as
    ``prepare(corpus_dir, out_dir, jobs=..., **options)``, or ``prepare(out_dir, jobs=...,
    **options)`` when ``generated`` (the corpus is made in ``out_dir``: no corpus directory, no
    download). ``marker_names`` maps options to the names the ``.done`` marker records them
    under, where these differ (kept so that outputs prepared before stay up to date).
    """

    name: str
    prepare: str | PrepareFn
    default_protocol: str
    default_folds: int
    download: str = "none"
    generated: bool = False
    marker_names: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.download not in DOWNLOADS:
            raise ValueError(f"corpus {self.name!r}: download must be one of {DOWNLOADS}, got {self.download!r}")
        if self.generated and self.download != "none":
            raise ValueError(f"corpus {self.name!r}: a generated corpus cannot be downloaded")

    def load(self) -> PrepareFn:
        """The preparation function, importing its module if needed."""
        return import_plugin(self.prepare) if isinstance(self.prepare, str) else self.prepare

    def module(self) -> ModuleType:
        """The module of the preparation function (it holds ``PROTOCOLS``, ``LAYOUT``, ...)."""
        if isinstance(self.prepare, str):
            return importlib.import_module(self.prepare.rpartition(":")[0])
        module = inspect.getmodule(self.prepare)
        if module is None:
            raise ValueError(f"corpus {self.name!r}: cannot tell the module of {self.prepare!r}")
        return module

    def marker_settings(self, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` under the names the ``.done`` marker records them with."""
        rename = dict(self.marker_names)
        return {rename.get(key, key): value for key, value in options.items()}


#: Corpora by name (the ``sertool prep <name>`` commands).
CORPORA: Registry[CorpusSpec] = Registry("corpus")

#: The built-in corpora, in the order the CLI lists them.
BUILT_IN_SPECS: tuple[CorpusSpec, ...] = (
    CorpusSpec("iemocap", "sertool.corpora.iemocap:prepare_iemocap", "leave-one-session-out", 5, "on-request"),
    CorpusSpec("ravdess", "sertool.corpora.ravdess:prepare_ravdess", "speaker-kfold", 5, "direct"),
    CorpusSpec("crema-d", "sertool.corpora.crema_d:prepare_crema_d", "speaker-kfold", 5, "direct"),
    CorpusSpec("casia", "sertool.corpora.casia:prepare_casia", "leave-one-speaker-out", 4, "on-request"),
    CorpusSpec("esd", "sertool.corpora.esd:prepare_esd", "speaker-kfold", 5, "on-request"),
    CorpusSpec("librispeech", "sertool.corpora.librispeech:prepare_librispeech", "speaker-kfold", 5, "direct"),
    CorpusSpec("aishell", "sertool.corpora.aishell:prepare_aishell", "speaker-kfold", 5, "direct"),
    CorpusSpec("folder", "sertool.corpora.folder:prepare_folder", "speaker-kfold", 5),
    CorpusSpec("synthetic", "sertool.corpora.synthetic:prepare_synthetic", "speaker-kfold", 4, generated=True,
               marker_names=(("k", "folds"),)),
)


def register_corpus(spec: CorpusSpec) -> CorpusSpec:
    """Add ``spec`` to :data:`CORPORA` under its name (a taken name raises ``ValueError``)."""
    CORPORA.add(spec.name, spec)
    return spec


for _spec in BUILT_IN_SPECS:
    register_corpus(_spec)

#: Names of the built-in corpora, in the order the CLI lists them.
BUILT_IN: tuple[str, ...] = tuple(spec.name for spec in BUILT_IN_SPECS)


def corpus_spec(name: str) -> CorpusSpec:
    """The registered corpus ``name``, or a one-line error listing the known ones.

    ``"package.module:SPEC"`` or ``"path/to/file.py:SPEC"`` names a :class:`CorpusSpec` defined
    elsewhere (imported, then kept under that name).

    Example:
        >>> corpus_spec("casia").default_folds
        4
        >>> corpus_spec("timit")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        sertool.errors.SertoolError: unknown corpus 'timit' (known: aishell, casia, crema-d, ..., synthetic)
    """
    if name not in CORPORA and ":" in name:  # "module:SPEC" or "path/file.py:SPEC": checked before it is kept
        obj = import_plugin(name)
        if not isinstance(obj, CorpusSpec):
            raise SertoolError(f"{name!r} is not a corpus specification (CorpusSpec)")
        CORPORA.add(name, obj)
    return CORPORA.get(name)
