"""The prep stage: a registered corpus → manifest.jsonl, folds.json, token inventories, summary.json.

:func:`prepare_corpus` looks the corpus up in :data:`~sertool.corpora.registry.CORPORA`, checks
the fold protocol before any work, downloads the corpus if asked, fingerprints the files its
preparer reads and runs the preparer under the output directory's ``.done`` marker
(:func:`run_prep`): a rerun with the same settings and unchanged inputs is skipped unless
``force``; adding, replacing or deleting an input file redoes it. What it did is printed
(:func:`print_report`) through :data:`sertool.console.console`.

Example::

    prepare_corpus("ravdess", Path("corpora/Audio_Speech_Actors_01-24"), Path("data/ravdess"),
                   protocol="speaker-kfold", k=5, jobs=2)
    prepare_corpus("librispeech", Path("corpora/LibriSpeech"), Path("data/librispeech"),
                   download=True, subsets=["dev-clean"])
    prepare_corpus("synthetic", None, Path("data/synthetic"), speakers=4, per_class=3, languages=("en",))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from rich.table import Table

from sertool.console import console
from sertool.corpora.common import PrepReport
from sertool.corpora.registry import corpus_spec
from sertool.data.folds import DEV_SETS
from sertool.errors import SertoolError
from sertool.stage import StageMarker, require_writable_dir

# Above this many speakers the printed summary points at summary.json instead of listing them.
MAX_LISTED_SPEAKERS = 40


def split_list(text: str) -> list[str]:
    """The non-empty, stripped items of a comma-separated list.

    Example:
        >>> split_list("dev-clean, test-clean,")
        ['dev-clean', 'test-clean']
    """
    return [x.strip() for x in text.split(",") if x.strip()]


def print_report(report: PrepReport) -> None:
    """Print a prep summary: counts, skipped reasons, classes, speakers, folds and leakage."""
    console.print(f"[bold]{report.corpus}[/bold]: kept {report.kept} utterances → {report.out_dir}")
    for reason, n in sorted(report.skipped.items()):
        console.print(f"  skipped {n}: {reason}")
    if report.oov_words:
        console.print(f"  out-of-vocabulary words left out of phones: {report.oov_words} "
                      f"(e.g. {', '.join(report.oov_examples[:5])})")
    console.print("  classes: " + ", ".join(f"{k} {v}" for k, v in report.classes.items()))
    console.print(f"  speakers: {len(report.speakers)} "
                  f"({min(report.speakers.values())}–{max(report.speakers.values())} utterances each)")
    if len(report.speakers) <= MAX_LISTED_SPEAKERS:
        console.print("  per speaker: " + ", ".join(f"{k.split('/', 1)[-1]} {v}" for k, v in report.speakers.items()))
    else:
        console.print(f"  per-speaker counts: {Path(report.out_dir) / 'summary.json'}")
    table = Table(title=f"folds ({report.protocol})")
    for col in ("fold", "train", "dev", "test", "speakers in train and test"):
        table.add_column(col)
    for f in report.folds:
        leak = ", ".join(f["leaking_speakers"][:3]) + (" …" if len(f["leaking_speakers"]) > 3 else "")
        table.add_row(f["name"], str(f["train"]), str(f["dev"]), str(f["test"]), leak or "none")
    console.print(table)
    for w in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def run_prep(out_dir: Path, settings: dict[str, Any], prepare: Callable[[], PrepReport], force: bool,
             inputs_fingerprint: str = "") -> PrepReport:
    """Run ``prepare`` unless ``out_dir`` already holds its output for the same settings.

    ``settings`` and ``inputs_fingerprint`` make the ``.done`` marker's digest; a matching marker
    (and no ``force``) returns the report stored in ``out_dir``'s summary.json instead.
    """
    marker = StageMarker(out_dir, {**settings, "fingerprint": inputs_fingerprint})
    if marker.is_done() and not force:
        console.print(f"prep: {out_dir} is up to date (use --force to redo)")
        return PrepReport.load(out_dir)
    require_writable_dir(out_dir)  # before the preparer probes a whole corpus's audio
    marker.clear()
    report = prepare()
    marker.mark_done(kept=report.kept)
    print_report(report)
    return report


def prepare_corpus(
    corpus: str,
    corpus_dir: Path | None,
    out_dir: Path,
    /,
    *,
    force: bool = False,
    jobs: int = 1,
    download: bool = False,
    mirror: str | None = None,
    archive_dir: Path | None = None,
    subsets: Iterable[str] | None = None,
    **options: Any,
) -> PrepReport:
    """Prepare the registered ``corpus`` from ``corpus_dir`` into ``out_dir``.

    ``options`` go to the corpus's preparer (``protocol``, ``k``, ``seed``, ``repeats``, ``dev``
    — ``"speakers"`` or ``"none"``, given only when not the default so that outputs prepared
    before keep their ``.done`` marker — and its own such as the folder corpus's ``csv_path``);
    ``protocol`` and ``k`` default to the corpus's :class:`~sertool.corpora.registry.CorpusSpec`
    defaults, those of its ``sertool prep`` command. With ``download``, the corpus is first
    fetched into ``corpus_dir`` (``mirror``, ``archive_dir`` and LibriSpeech's ``subsets`` as in
    :func:`~sertool.corpora.download.download_corpus`); its notes print as warnings. A generated
    corpus (``synthetic``) takes ``corpus_dir=None``.

    Raises :class:`~sertool.errors.SertoolError` for an unknown corpus, a protocol that does not
    apply to it, a missing corpus directory or label CSV, and whatever the preparer refuses.
    """
    spec = corpus_spec(corpus)
    corpus = spec.name  # a "module:SPEC" name records the corpus's own
    out_dir = Path(out_dir)
    options = {"protocol": spec.default_protocol, "k": spec.default_folds, **options}
    if options.get("dev", "speakers") not in DEV_SETS:
        raise SertoolError(f"--dev must be one of {', '.join(DEV_SETS)}, got {options['dev']!r}")
    prepare = spec.load()
    module = spec.module()
    if spec.generated:
        if corpus_dir is not None:
            raise SertoolError(f"{corpus} is generated in the output directory: it takes no corpus directory")
        if download:
            raise SertoolError(f"{corpus} is generated: there is nothing to download")
        settings = {"corpus": corpus, "version": module.GENERATOR_VERSION, **spec.marker_settings(options)}
        return run_prep(out_dir, settings, lambda: prepare(out_dir, jobs=jobs, **options), force)

    from sertool.corpora.scan import PREP_VERSION, check_protocol, require_dir
    from sertool.stage import file_digest, tree_fingerprint

    if corpus_dir is None:
        raise SertoolError(f"{corpus} needs its corpus directory ({module.LAYOUT})")
    check_protocol(options["protocol"], module.PROTOCOLS, options.get("name", corpus))
    if download:
        from sertool.corpora.download import download_corpus

        notes = download_corpus(corpus, Path(corpus_dir), archive_dir=archive_dir,
                                subsets=list(subsets) if subsets is not None else None, mirror=mirror)
        for note in notes:
            console.print(f"[yellow]warning:[/yellow] {note}")
    root = require_dir(Path(corpus_dir), module.LAYOUT)
    fingerprint = tree_fingerprint(root, module.FINGERPRINT)
    resolve_inputs = getattr(module, "resolve_inputs", None)
    if resolve_inputs is not None:  # files outside the corpus directory (the folder corpus's label CSV)
        options, outside = resolve_inputs(options)
        for path in outside:
            fingerprint += file_digest(path)
    settings = {"corpus": corpus, "corpus_dir": str(root), "version": PREP_VERSION, **spec.marker_settings(options)}
    return run_prep(out_dir, settings, lambda: prepare(root, out_dir, jobs=jobs, **options), force,
                    inputs_fingerprint=fingerprint)
