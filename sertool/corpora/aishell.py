"""AISHELL-1 (the root holding ``data_aishell/`` and ``resource_aishell/``) → manifest, folds,
token inventories, for the Mandarin phoneme task (``emotion`` null, ``eis`` −1, style ``read``).

Layout read::

    data_aishell/wav/{train,dev,test}/<S0002>/<BAC009S0002W0122>.wav
    data_aishell/transcript/aishell_transcript_v0.8.txt     "<utterance> 而 对 楼市 成交 ..."
    resource_aishell/speaker.info                           "0002 F"

The release transcribes utterances it ships no audio for and ships audio it has no transcript
for; both are reported (``transcript without audio``, ``audio without transcript``). Speaker
archives left unextracted in ``data_aishell/wav`` (``S0002.tar.gz``) are reported too.

Example::

    report = prepare_aishell("corpora/aishell", "data/aishell")
    sorted(report.skipped)   # ['audio without transcript', 'transcript without audio']
"""

from __future__ import annotations

from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, read_lines, require_dir, visible
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "aishell"
PROTOCOLS = ("speaker-kfold", "corpus-split", "leave-one-speaker-out")
DEFAULT_PROTOCOL = "speaker-kfold"
FINGERPRINT = ("data_aishell/wav/*/*/*.wav", "data_aishell/transcript/*.txt", "resource_aishell/speaker.info")
LAYOUT = "the AISHELL-1 root holding data_aishell/ and resource_aishell/"  # what CORPUS_DIR must be, for error messages
SPLITS = ("train", "dev", "test")


def read_speaker_info(path: Path) -> dict[str, str]:
    """Speaker number → ``F``/``M`` from ``speaker.info`` (``0002 F``)."""
    genders = {}
    for line in read_lines(path):
        fields = line.split()
        if len(fields) >= 2 and fields[1].upper() in ("F", "M"):
            genders[fields[0]] = fields[1].upper()
    return genders


def read_transcript(path: Path) -> dict[str, str]:
    """Utterance → transcript (words separated by single spaces, as the corpus segments them)."""
    texts = {}
    for line in read_lines(path, encodings=("utf-8-sig",)):
        utt, _, text = line.strip().partition(" ")
        if utt:
            texts[utt] = " ".join(text.split())
    return texts


def prepare_aishell(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare every split of AISHELL-1 present under ``corpus_dir``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    wav_root = root / "data_aishell" / "wav"
    transcript_files = visible((root / "data_aishell" / "transcript").glob("*.txt"))
    if not wav_root.is_dir() or not transcript_files:
        raise SertoolError(f"no data_aishell/wav and data_aishell/transcript/*.txt under {root}: is it AISHELL-1?")
    log = PrepLog()
    archives = visible(wav_root.glob("*.tar.gz"))
    if archives:
        log.warn(f"{len(archives)} speaker archives in {wav_root} are not extracted (e.g. {archives[0].name}); "
                 "extract them or rerun with --download")
    genders: dict[str, str] = {}
    info_path = root / "resource_aishell" / "speaker.info"
    if info_path.is_file():
        genders = read_speaker_info(info_path)
    else:
        log.warn(f"{info_path} not found: gender is null for every utterance")
    texts: dict[str, str] = {}
    for path in transcript_files:
        texts.update(read_transcript(path))

    found: list[tuple[Path, str, str]] = []  # wav, speaker folder, split
    for split in SPLITS:
        for wav in visible((wav_root / split).glob("*/*.wav")):
            if wav.stem not in texts:
                log.skip("audio without transcript", f"{split}/{wav.parent.name}/{wav.name}")
                continue
            found.append((wav, wav.parent.name, split))
    for utt in sorted(set(texts) - {w.stem for w, _, _ in found}):
        log.skip("transcript without audio", utt)

    utts = []
    for (wav, speaker, split), info in zip(found, probe_audio([f[0] for f in found], jobs=jobs)):
        if isinstance(info, str):
            log.skip(info, f"{split}/{speaker}/{wav.name}")
            continue
        number = speaker.lstrip("S")  # speaker.info numbers speakers without the S
        if genders and number not in genders:
            log.note("utterances of speakers missing from speaker.info (gender null)", wav.stem)
        utts.append(
            Utterance(
                id=f"{CORPUS}/{wav.stem}",
                corpus=CORPUS,
                audio=str(wav),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/{speaker}",
                gender=genders.get(number),
                language="zh",
                session=None,
                style="read",
                text=texts[wav.stem],
                split=split,
            )
        )
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
