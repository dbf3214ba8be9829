"""``sertool prep <corpus> ...``: corpus → manifest.jsonl, folds.json, token inventories.

One sub-command per corpus; each wraps ``sertool.corpora.<corpus>.prepare_<corpus>`` and
shares the stage logic of :func:`run_prep` (``.done`` marker, ``--force``, summary table).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer
from rich.table import Table

from sertool.cli.common import Force, Jobs, OutDir, Seed, command, console
from sertool.corpora.common import PrepReport
from sertool.stage import StageMarker

app = typer.Typer(help="Prepare a corpus: manifest, folds and token inventories.", no_args_is_help=True)

Protocol = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="Fold protocol: leave-one-session-out, leave-one-speaker-out, speaker-kfold, "
        "stratified-kfold (not speaker-independent), corpus-split or casia-10fold (CASIA; not "
        "speaker-independent).",
    ),
]
NumFolds = Annotated[int, typer.Option("--folds", "-k", min=2, help="k for the k-fold protocols.")]
# Above this many speakers the printed summary points at summary.json instead of listing them.
MAX_LISTED_SPEAKERS = 40


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
    """Run ``prepare`` unless ``out_dir`` already holds its output for the same settings."""
    marker = StageMarker(out_dir, {**settings, "fingerprint": inputs_fingerprint})
    if marker.is_done() and not force:
        console.print(f"prep: {out_dir} is up to date (use --force to redo)")
        return PrepReport.load(out_dir)
    marker.clear()
    report = prepare()
    marker.mark_done(kept=report.kept)
    print_report(report)
    return report


@app.command("synthetic")
@command
def synthetic(
    out_dir: OutDir,
    speakers: Annotated[int, typer.Option(help="Speakers (eSpeak NG voices m1–m8, f1–f5).", min=2, max=13)] = 8,
    per_class: Annotated[int, typer.Option(help="Utterances per emotion per speaker.", min=1)] = 30,
    languages: Annotated[str, typer.Option(help="Comma-separated: en, zh.")] = "en,zh",
    styles: Annotated[str, typer.Option(help="Comma-separated: studio, telephone.")] = "studio,telephone",
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 4,
    seed: Seed = 0,
    jobs: Jobs = 2,
    force: Force = False,
) -> None:
    """Synthesise an emotional speech corpus with eSpeak NG (no download needed)."""
    from sertool.corpora.synthetic import GENERATOR_VERSION, prepare_synthetic

    langs = tuple(x.strip() for x in languages.split(",") if x.strip())
    sty = tuple(x.strip() for x in styles.split(",") if x.strip())
    settings = dict(corpus="synthetic", version=GENERATOR_VERSION, speakers=speakers, per_class=per_class, languages=langs, styles=sty,
                    protocol=protocol, folds=folds, seed=seed)
    run_prep(
        out_dir, settings,
        lambda: prepare_synthetic(out_dir, speakers=speakers, per_class=per_class, languages=langs, styles=sty,
                                  protocol=protocol, k=folds, seed=seed, jobs=jobs),
        force,
    )


# --- corpora on disk ---------------------------------------------------------------------------

CorpusDir = Annotated[Path, typer.Argument(help="Directory the corpus unpacks to.", file_okay=False)]
Repeats = Annotated[int, typer.Option("--repeats", min=1, help="Repeats of stratified-kfold (new seed each).")]
Download = Annotated[bool, typer.Option("--download", help="Fetch and unpack the corpus first (resumable, "
                                        "checksum-verified); for licensed corpora, says where to request it.")]
Mirror = Annotated[Optional[str], typer.Option(
    "--mirror", help="Base URL replacing the official ones for --download (default: $SERTOOL_DOWNLOAD_BASE).")]
ArchiveDir = Annotated[Optional[Path], typer.Option(
    "--archive-dir", help="Where --download keeps archives (default: CORPUS_DIR's parent).", file_okay=False)]


def _prep_corpus(
    corpus: str,
    corpus_dir: Path,
    out_dir: Path,
    options: dict[str, Any],
    force: bool,
    jobs: int,
    download: bool = False,
    mirror: Optional[str] = None,
    archive_dir: Optional[Path] = None,
    subsets: Optional[list[str]] = None,
) -> PrepReport:
    """Download if asked, then run ``prepare_<corpus>`` under the stage marker.

    ``sertool.corpora.<corpus>`` provides ``prepare_<corpus>``, ``PROTOCOLS`` (checked before any
    work), ``LAYOUT`` (for the missing-directory message) and ``FINGERPRINT``: the patterns of the
    files the preparer reads, whose paths, sizes and mtimes make the marker's inputs fingerprint,
    so adding, replacing or deleting one redoes the stage.

    Example:
        >>> _prep_corpus("ravdess", Path("corpora/Audio_Speech_Actors_01-24"), Path("data/ravdess"),
        ...              dict(protocol="speaker-kfold", k=5, seed=0, repeats=1), force=False, jobs=2)
    """
    import importlib

    from sertool.corpora.scan import PREP_VERSION, check_protocol, require_dir
    from sertool.stage import file_digest, tree_fingerprint

    module = importlib.import_module(f"sertool.corpora.{corpus.replace('-', '_')}")
    check_protocol(options["protocol"], module.PROTOCOLS, options.get("name", corpus))
    if download:
        from sertool.corpora.download import download_corpus

        for note in download_corpus(corpus, corpus_dir, archive_dir=archive_dir, subsets=subsets, mirror=mirror):
            console.print(f"[yellow]warning:[/yellow] {note}")
    root = require_dir(corpus_dir, module.LAYOUT)
    prepare = getattr(module, f"prepare_{corpus.replace('-', '_')}")
    fingerprint = tree_fingerprint(root, module.FINGERPRINT)
    if options.get("csv_path") is not None:  # a label CSV may live outside the corpus directory
        csv_path = Path(options["csv_path"]).resolve()
        if not csv_path.is_file():
            from sertool.errors import SertoolError

            raise SertoolError(f"label CSV not found: {csv_path}")
        options = {**options, "csv_path": csv_path}
        fingerprint += file_digest(csv_path)
    settings = {"corpus": corpus, "corpus_dir": str(root), "version": PREP_VERSION, **options}
    return run_prep(out_dir, settings, lambda: prepare(root, out_dir, jobs=jobs, **options), force,
                    inputs_fingerprint=fingerprint)


@app.command("iemocap")
@command
def iemocap(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "leave-one-session-out",
    folds: NumFolds = 5,
    repeats: Repeats = 1,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    force: Force = False,
) -> None:
    """IEMOCAP_full_release: Session1..5, labels, V/A/D, transcripts (leave-one-session-out)."""
    opts = dict(protocol=protocol, k=folds, seed=seed, repeats=repeats)
    _prep_corpus("iemocap", corpus_dir, out_dir, opts, force, jobs, download)


@app.command("ravdess")
@command
def ravdess(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 5,
    repeats: Repeats = 1,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    mirror: Mirror = None,
    archive_dir: ArchiveDir = None,
    force: Force = False,
) -> None:
    """RAVDESS speech (Audio_Speech_Actors_01-24): 8 emotions, 2 intensities (speaker k-fold)."""
    opts = dict(protocol=protocol, k=folds, seed=seed, repeats=repeats)
    _prep_corpus("ravdess", corpus_dir, out_dir, opts, force, jobs, download, mirror, archive_dir)


@app.command("crema-d")
@command
def crema_d(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 5,
    repeats: Repeats = 1,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    mirror: Mirror = None,
    force: Force = False,
) -> None:
    """CREMA-D (the root holding AudioWAV/): 6 emotions, LO/MD/HI/XX levels (speaker k-fold)."""
    opts = dict(protocol=protocol, k=folds, seed=seed, repeats=repeats)
    _prep_corpus("crema-d", corpus_dir, out_dir, opts, force, jobs, download, mirror)


@app.command("casia")
@command
def casia(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "leave-one-speaker-out",
    folds: NumFolds = 4,
    repeats: Repeats = 1,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    force: Force = False,
) -> None:
    """CASIA (<speaker>/<emotion>/<n>.wav): 6 emotions, no transcripts (leave-one-speaker-out;
    casia-10fold is SpeechEQ's ten-fold protocol)."""
    opts = dict(protocol=protocol, k=folds, seed=seed, repeats=repeats)
    _prep_corpus("casia", corpus_dir, out_dir, opts, force, jobs, download)


@app.command("esd")
@command
def esd(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 5,
    repeats: Repeats = 1,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    force: Force = False,
) -> None:
    """ESD ('Emotion Speech Dataset'): 20 speakers, Mandarin + English, own split (speaker k-fold)."""
    opts = dict(protocol=protocol, k=folds, seed=seed, repeats=repeats)
    _prep_corpus("esd", corpus_dir, out_dir, opts, force, jobs, download)


@app.command("librispeech")
@command
def librispeech(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 5,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    subsets: Annotated[str, typer.Option(help="Comma-separated subsets for --download.")]
    = "dev-clean,test-clean,train-clean-100",
    mirror: Mirror = None,
    archive_dir: ArchiveDir = None,
    force: Force = False,
) -> None:
    """LibriSpeech: every subset present, for the phoneme/character tasks (speaker k-fold)."""
    opts = dict(protocol=protocol, k=folds, seed=seed)
    wanted = [s.strip() for s in subsets.split(",") if s.strip()]
    _prep_corpus("librispeech", corpus_dir, out_dir, opts, force, jobs, download, mirror, archive_dir, wanted)


@app.command("aishell")
@command
def aishell(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 5,
    seed: Seed = 0,
    jobs: Jobs = 2,
    download: Download = False,
    mirror: Mirror = None,
    archive_dir: ArchiveDir = None,
    force: Force = False,
) -> None:
    """AISHELL-1 (the root holding data_aishell/ and resource_aishell/), Mandarin phonemes (speaker k-fold)."""
    opts = dict(protocol=protocol, k=folds, seed=seed)
    _prep_corpus("aishell", corpus_dir, out_dir, opts, force, jobs, download, mirror, archive_dir)


@app.command("folder")
@command
def folder(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    csv_path: Annotated[Optional[Path], typer.Option(
        "--csv", help="Label CSV: path, emotion [, intensity, speaker, gender, text, language, session, split] "
        "(default: CORPUS_DIR/labels.csv).", dir_okay=False)] = None,
    name: Annotated[Optional[str], typer.Option(
        "--name", help="Corpus name, the prefix of ids and speakers (default: CORPUS_DIR's name, lower-cased).",
    )] = None,
    style: Annotated[str, typer.Option("--style", help="acted, spontaneous, read or synthetic.")] = "acted",
    language: Annotated[str, typer.Option("--language", help="ISO 639-1 code for rows without one.")] = "en",
    rating_range: Annotated[Optional[str], typer.Option(
        "--rating-range", help="LOW,HIGH of numeric intensities, rescaled onto [1, 4] (e.g. 1,5).")] = None,
    protocol: Protocol = "speaker-kfold",
    folds: NumFolds = 5,
    repeats: Repeats = 1,
    seed: Seed = 0,
    jobs: Jobs = 2,
    force: Force = False,
) -> None:
    """A corpus of one's own: audio under CORPUS_DIR described by a CSV (speaker k-fold)."""
    from sertool.errors import SertoolError

    rating: Optional[tuple[float, float]] = None
    if rating_range is not None:
        try:
            low, high = (float(x) for x in rating_range.split(","))
        except ValueError:
            raise SertoolError(f"--rating-range must be LOW,HIGH, got {rating_range!r}") from None
        if not low < high:
            raise SertoolError(f"--rating-range needs LOW < HIGH, got {rating_range!r}")
        rating = (low, high)
    default_name = re.sub(r"[^a-z0-9._-]+", "-", corpus_dir.resolve().name.lower()).strip("-") or "custom"
    opts = dict(csv_path=csv_path, name=name or default_name, style=style, language=language, rating_range=rating,
                protocol=protocol, k=folds, seed=seed, repeats=repeats)
    _prep_corpus("folder", corpus_dir, out_dir, opts, force, jobs)
