"""``sertool prep <corpus> ...``: corpus → manifest.jsonl, folds.json, token inventories.

One sub-command per corpus of :data:`sertool.corpora.registry.CORPORA`, each a thin wrapper over
:func:`sertool.corpora.prepare.prepare_corpus` (``.done`` marker, ``--force``, download, summary);
the defaults of ``--protocol`` and ``--folds`` are the corpus's registered ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sertool.cli.common import Force, Jobs, OutDir, Seed, command
from sertool.corpora.prepare import prepare_corpus, split_list
from sertool.corpora.registry import corpus_spec
from sertool.data.folds import DEV_SETS

app = typer.Typer(help="Prepare a corpus: manifest, folds and token inventories.", no_args_is_help=True)

Protocol = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="Fold protocol: leave-one-session-out, leave-one-speaker-out, speaker-kfold (fewer "
        "speakers than --folds: leave-one-speaker-out), stratified-kfold (not speaker-independent), "
        "corpus-split, casia-10fold (CASIA; not speaker-independent) or dialog-10fold (IEMOCAP by "
        "dialog prefix, decomposed paper; not speaker-independent).",
    ),
]
NumFolds = Annotated[int, typer.Option("--folds", "-k", min=2, help="k for the k-fold protocols.")]
Dev = Annotated[str, typer.Option(
    "--dev", help=f"Dev set, one of {', '.join(DEV_SETS)}: 'speakers' (each protocol's own: whole training "
    "speakers when speaker-independent) or 'none' (empty dev lists: training keeps the last epoch).")]


def dev_option(dev: str) -> dict[str, str]:
    """``{"dev": dev}``, or nothing for the default, whose outputs prepared before stay up to date."""
    return {} if dev == "speakers" else {"dev": dev}


@app.command("synthetic")
@command
def synthetic(
    out_dir: OutDir,
    speakers: Annotated[int, typer.Option(help="Speakers (eSpeak NG voices m1–m8, f1–f5).", min=2, max=13)] = 8,
    per_class: Annotated[int, typer.Option(help="Utterances per emotion per speaker.", min=1)] = 30,
    languages: Annotated[str, typer.Option(help="Comma-separated: en, zh.")] = "en,zh",
    styles: Annotated[str, typer.Option(help="Comma-separated: studio, telephone.")] = "studio,telephone",
    protocol: Protocol = corpus_spec("synthetic").default_protocol,
    folds: NumFolds = corpus_spec("synthetic").default_folds,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    force: Force = False,
) -> None:
    """Synthesise an emotional speech corpus with eSpeak NG (no download needed)."""
    opts = {"speakers": speakers, "per_class": per_class, "languages": tuple(split_list(languages)),
            "styles": tuple(split_list(styles)), "protocol": protocol, "k": folds, "seed": seed, **dev_option(dev)}
    prepare_corpus("synthetic", None, out_dir, force=force, jobs=jobs, **opts)


# --- corpora on disk ---------------------------------------------------------------------------

CorpusDir = Annotated[Path, typer.Argument(help="Directory the corpus unpacks to.")]
Repeats = Annotated[int, typer.Option("--repeats", min=1, help="Repeats of stratified-kfold (new seed each).")]
Download = Annotated[bool, typer.Option("--download", help="Fetch and unpack the corpus first (resumable, "
                                        "checksum-verified); for licensed corpora, says where to request it.")]
Mirror = Annotated[Optional[str], typer.Option(
    "--mirror", help="Base URL replacing the official ones for --download (default: $SERTOOL_DOWNLOAD_BASE).")]
ArchiveDir = Annotated[Optional[Path], typer.Option(
    "--archive-dir", help="Where --download keeps archives (default: CORPUS_DIR's parent).")]


@app.command("iemocap")
@command
def iemocap(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("iemocap").default_protocol,
    folds: NumFolds = corpus_spec("iemocap").default_folds,
    repeats: Repeats = 1,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    force: Force = False,
) -> None:
    """IEMOCAP_full_release: Session1..5, labels, V/A/D, transcripts (leave-one-session-out)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, "repeats": repeats, **dev_option(dev)}
    prepare_corpus("iemocap", corpus_dir, out_dir, force=force, jobs=jobs, download=download, **opts)


@app.command("ravdess")
@command
def ravdess(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("ravdess").default_protocol,
    folds: NumFolds = corpus_spec("ravdess").default_folds,
    repeats: Repeats = 1,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    mirror: Mirror = None,
    archive_dir: ArchiveDir = None,
    force: Force = False,
) -> None:
    """RAVDESS speech (Audio_Speech_Actors_01-24): 8 emotions, 2 intensities (speaker k-fold)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, "repeats": repeats, **dev_option(dev)}
    prepare_corpus("ravdess", corpus_dir, out_dir, force=force, jobs=jobs, download=download, mirror=mirror,
                   archive_dir=archive_dir, **opts)


@app.command("crema-d")
@command
def crema_d(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("crema-d").default_protocol,
    folds: NumFolds = corpus_spec("crema-d").default_folds,
    repeats: Repeats = 1,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    mirror: Mirror = None,
    force: Force = False,
) -> None:
    """CREMA-D (the root holding AudioWAV/): 6 emotions, LO/MD/HI/XX levels (speaker k-fold)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, "repeats": repeats, **dev_option(dev)}
    prepare_corpus("crema-d", corpus_dir, out_dir, force=force, jobs=jobs, download=download, mirror=mirror, **opts)


@app.command("casia")
@command
def casia(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("casia").default_protocol,
    folds: NumFolds = corpus_spec("casia").default_folds,
    repeats: Repeats = 1,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    force: Force = False,
) -> None:
    """CASIA (<speaker>/<emotion>/<n>.wav): 6 emotions, no transcripts (leave-one-speaker-out;
    casia-10fold is SpeechEQ's ten-fold protocol)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, "repeats": repeats, **dev_option(dev)}
    prepare_corpus("casia", corpus_dir, out_dir, force=force, jobs=jobs, download=download, **opts)


@app.command("esd")
@command
def esd(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("esd").default_protocol,
    folds: NumFolds = corpus_spec("esd").default_folds,
    repeats: Repeats = 1,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    force: Force = False,
) -> None:
    """ESD ('Emotion Speech Dataset'): 20 speakers, Mandarin + English, own split (speaker k-fold)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, "repeats": repeats, **dev_option(dev)}
    prepare_corpus("esd", corpus_dir, out_dir, force=force, jobs=jobs, download=download, **opts)


@app.command("librispeech")
@command
def librispeech(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("librispeech").default_protocol,
    folds: NumFolds = corpus_spec("librispeech").default_folds,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    subsets: Annotated[str, typer.Option(help="Comma-separated subsets for --download.")]
    = "dev-clean,test-clean,train-clean-100",
    mirror: Mirror = None,
    archive_dir: ArchiveDir = None,
    force: Force = False,
) -> None:
    """LibriSpeech: every subset present, for the phoneme/character tasks (speaker k-fold)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, **dev_option(dev)}
    prepare_corpus("librispeech", corpus_dir, out_dir, force=force, jobs=jobs, download=download, mirror=mirror,
                   archive_dir=archive_dir, subsets=split_list(subsets), **opts)


@app.command("aishell")
@command
def aishell(
    corpus_dir: CorpusDir,
    out_dir: OutDir,
    protocol: Protocol = corpus_spec("aishell").default_protocol,
    folds: NumFolds = corpus_spec("aishell").default_folds,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    download: Download = False,
    mirror: Mirror = None,
    archive_dir: ArchiveDir = None,
    force: Force = False,
) -> None:
    """AISHELL-1 (the root holding data_aishell/ and resource_aishell/), Mandarin phonemes (speaker k-fold)."""
    opts = {"protocol": protocol, "k": folds, "seed": seed, **dev_option(dev)}
    prepare_corpus("aishell", corpus_dir, out_dir, force=force, jobs=jobs, download=download, mirror=mirror,
                   archive_dir=archive_dir, **opts)


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
    encoding: Annotated[Optional[str], typer.Option(
        "--encoding", help="The CSV's encoding, e.g. cp1252 or gb18030 (default: UTF-8, or UTF-16 by its "
        "byte-order mark).")] = None,
    protocol: Protocol = corpus_spec("folder").default_protocol,
    folds: NumFolds = corpus_spec("folder").default_folds,
    repeats: Repeats = 1,
    seed: Seed = 0,
    dev: Dev = "speakers",
    jobs: Jobs = 2,
    force: Force = False,
) -> None:
    """A corpus of one's own: audio under CORPUS_DIR described by a CSV (speaker k-fold)."""
    from sertool.corpora.folder import default_name, parse_rating_range

    opts = {"csv_path": csv_path, "name": name or default_name(corpus_dir), "style": style, "language": language,
            "rating_range": parse_rating_range(rating_range), "protocol": protocol, "k": folds, "seed": seed,
            "repeats": repeats, **dev_option(dev)}
    if encoding is not None:  # only when named: outputs prepared without it keep their .done marker
        opts["encoding"] = encoding
    prepare_corpus("folder", corpus_dir, out_dir, force=force, jobs=jobs, **opts)
