"""CASIA Chinese emotional speech (``CASIA``) → manifest, folds, token inventories.

Layout read: ``<speaker>/<emotion>/<n>.wav``. Speaker folders are matched case-insensitively
(copies spell ``ZhaoZuoxiang`` and ``zhaozuoxiang``); emotion folders may be English (``angry``)
or Mandarin (``生气``) names. The corpus has no transcripts and no intensity levels, so ``text``
is null and the intensity is unspecified (−1; neutral 0).

Folds: leave-one-speaker-out (default, speaker-independent) or ``casia-10fold``, SpeechEQ's
ten-fold cross-validation (speecheq.txt §3.1; see :mod:`sertool.data.folds`), which is
speaker-dependent.

Example::

    report = prepare_casia("corpora/CASIA", "data/casia", protocol="casia-10fold")
    len(report.folds), report.leaking_folds()[:2]   # (10, ['1', '2'])
"""

from __future__ import annotations

from pathlib import Path

from sertool.corpora.common import PrepReport
from sertool.corpora.scan import PrepLog, check_protocol, finish, probe_audio, require_dir, visible
from sertool.data.labels import canonical_emotion, unify
from sertool.data.manifest import Utterance
from sertool.errors import SertoolError

CORPUS = "casia"
PROTOCOLS = ("leave-one-speaker-out", "casia-10fold", "speaker-kfold", "stratified-kfold")
DEFAULT_PROTOCOL = "leave-one-speaker-out"
FINGERPRINT = ("*.wav",)
LAYOUT = "CASIA holding <speaker>/<emotion>/<n>.wav"  # what CORPUS_DIR must be, for error messages
# The four speakers of the public release, lower-cased.
SPEAKERS = {"liuchanhg": "F", "zhaoquanyin": "F", "wangzhe": "M", "zhaozuoxiang": "M"}
EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")


def _emotion_of_folder(name: str) -> str | None:
    """Canonical emotion of an emotion folder name, or None if it is not one of CASIA's six."""
    try:
        emotion = canonical_emotion(name)
    except SertoolError:
        return None
    return emotion if emotion in EMOTIONS else None


def prepare_casia(
    corpus_dir: str | Path,
    out_dir: str | Path,
    protocol: str = DEFAULT_PROTOCOL,
    k: int = 5,
    seed: int = 0,
    repeats: int = 1,
    dev: str = "speakers",
    jobs: int = 1,
) -> PrepReport:
    """Prepare every ``<speaker>/<emotion>/*.wav`` of ``corpus_dir``."""
    check_protocol(protocol, PROTOCOLS, CORPUS)
    root = require_dir(Path(corpus_dir), LAYOUT)
    speakers = [d for d in visible(root.iterdir()) if d.is_dir()]
    if not speakers:
        raise SertoolError(f"no speaker folders under {root}: is it CASIA?")
    log = PrepLog()
    found: list[tuple[Path, str, str, str]] = []  # wav, speaker, emotion folder, canonical emotion
    for spk_dir in speakers:
        speaker = spk_dir.name.lower()
        for stray in visible(spk_dir.glob("*.wav")):
            log.skip("audio outside an emotion folder", f"{spk_dir.name}/{stray.name}")
        for emo_dir in (d for d in visible(spk_dir.iterdir()) if d.is_dir()):
            wavs = visible(emo_dir.glob("*.wav"))
            emotion = _emotion_of_folder(emo_dir.name)
            if emotion is None:
                log.skip("unknown emotion folder", f"{spk_dir.name}/{emo_dir.name}", n=len(wavs))
                continue
            found.extend((wav, speaker, emo_dir.name, emotion) for wav in wavs)

    utts = []
    for (wav, speaker, folder, emotion), info in zip(found, probe_audio([f[0] for f in found], jobs=jobs)):
        where = f"{wav.parent.parent.name}/{folder}/{wav.name}"
        if isinstance(info, str):
            log.skip(info, where)
            continue
        if speaker not in SPEAKERS:
            log.note("utterances of speakers outside CASIA's four (gender null)", where)
        esc, eis = unify(emotion, None)
        utts.append(
            Utterance(
                # Canonical emotion in the id: two spellings of one folder cannot yield two ids.
                id=f"{CORPUS}/{speaker}_{emotion}_{wav.stem}",
                corpus=CORPUS,
                audio=str(wav),
                duration=info[0],
                sample_rate=info[1],
                speaker=f"{CORPUS}/{speaker}",
                gender=SPEAKERS.get(speaker),
                language="zh",
                session=None,
                style="acted",
                text=None,
                emotion=emotion,
                emotion_raw=folder,
                esc=esc,
                eis=eis,
            )
        )
    return finish(out_dir, CORPUS, utts, log, protocol, k=k, seed=seed, repeats=repeats, dev=dev)
