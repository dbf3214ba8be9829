"""LibriSpeech (``LibriSpeech``) → manifest, folds, token inventories, for the phoneme and
character tasks (no emotion labels: ``emotion`` null, ``eis`` −1, style ``read``).

Layout read::

    LibriSpeech/SPEAKERS.TXT                                    "id | sex | subset | minutes | name"
    LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>-<n>.flac
    LibriSpeech/<subset>/<spk>/<chapter>/<spk>-<chapter>.trans.txt

Every subset present is prepared; ``train-*``, ``dev-*`` and ``test-*`` set ``split`` to train,
dev and test (a protocol, ``corpus-split``; the default folds are speaker k-fold). A flac without
a transcript line and a transcript line without its flac are both reported.

Example::

    report = prepare_librispeech("corpora/LibriSpeech", "data/librispeech")   # dev-clean only
    report.kept, report.classes   # (2703, {'None': 2703})
"""

from __future__ import annotations

from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, read_lines, require_dir, visible
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "librispeech"
PROTOCOLS = ("speaker-kfold", "corpus-split", "leave-one-speaker-out")
DEFAULT_PROTOCOL = "speaker-kfold"
FINGERPRINT = ("*.flac", "*.trans.txt", "SPEAKERS.TXT")
LAYOUT = "LibriSpeech holding subset folders such as dev-clean/"  # what CORPUS_DIR must be, for error messages
SUBSET_PREFIXES = {"train": "train", "dev": "dev", "test": "test"}


def split_of_subset(name: str) -> str | None:
    """The split a subset folder belongs to (``dev-clean`` → dev), None for other folders.

    Example:
        >>> split_of_subset("train-clean-100"), split_of_subset("dev-other"), split_of_subset("docs")
        ('train', 'dev', None)
    """
    return SUBSET_PREFIXES.get(name.split("-", 1)[0])


def read_speakers(path: Path) -> dict[str, str]:
    """Speaker id → ``F``/``M`` from ``SPEAKERS.TXT`` (names may hold ``|``: split four times)."""
    genders = {}
    for line in read_lines(path):
        if line.startswith(";") or not line.strip():
            continue
        fields = [f.strip() for f in line.split("|", 4)]
        if len(fields) >= 2 and fields[1] in ("F", "M"):
            genders[fields[0]] = fields[1]
    return genders


def prepare_librispeech(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare every subset folder of ``LibriSpeech`` present in ``corpus_dir``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    subsets = [d for d in visible(root.iterdir()) if d.is_dir() and split_of_subset(d.name)]
    if not subsets:
        raise SertoolError(f"no LibriSpeech subset folders (train-*, dev-*, test-*) under {root}")
    log = PrepLog()
    genders: dict[str, str] = {}
    if (root / "SPEAKERS.TXT").is_file():
        genders = read_speakers(root / "SPEAKERS.TXT")
    else:
        log.warn(f"SPEAKERS.TXT not found in {root}: gender is null for every utterance")

    found: list[tuple[Path, str, str, str]] = []  # flac, speaker, split, text
    for subset in subsets:
        split = split_of_subset(subset.name)
        for chapter in (d for d in visible(subset.glob("*/*")) if d.is_dir()):
            texts: dict[str, str] = {}
            for trans in visible(chapter.glob("*.trans.txt")):
                for line in read_lines(trans):
                    utt, _, text = line.strip().partition(" ")
                    if utt:
                        texts[utt] = text.strip()
            flacs = {f.stem: f for f in visible(chapter.glob("*.flac"))}
            for utt in sorted(set(texts) - set(flacs)):
                log.skip("transcript without audio", utt)
            for utt, flac in sorted(flacs.items()):
                if utt not in texts:
                    log.skip("audio without transcript", f"{subset.name}/{utt}")
                    continue
                found.append((flac, chapter.parent.name, split, texts[utt]))

    utts = []
    for (flac, speaker, split, text), info in zip(found, probe_audio([f[0] for f in found], jobs=jobs)):
        if isinstance(info, str):
            log.skip(info, flac.stem)
            continue
        if genders and speaker not in genders:
            log.note("utterances of speakers missing from SPEAKERS.TXT (gender null)", flac.stem)
        utts.append(
            Utterance(
                id=f"{CORPUS}/{flac.stem}",
                corpus=CORPUS,
                audio=str(flac),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/{speaker}",
                gender=genders.get(speaker),
                language="en",
                session=None,
                style="read",
                text=text,
                split=split,
            )
        )
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
