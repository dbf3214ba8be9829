"""What every corpus preparer shares: phonemising, counting, writing manifest/folds/summary.

A ``prepare_<corpus>`` function collects :class:`~sertool.data.manifest.Utterance` objects and
counts what it skipped and why, then calls :func:`finish_prep`, which phonemises transcripts,
writes ``manifest.jsonl``, ``folds.json``, the token inventories used and ``summary.json``, and
returns a :class:`PrepReport` that the CLI prints.

Example::

    skipped = Counter()
    utts = [...]   # one Utterance per kept file; skipped["no signal"] += 1 for dropped ones
    report = finish_prep(out_dir, "ravdess", utts, skipped, protocol="speaker-kfold", k=4)
    report.kept, report.leaking_folds()   # (1440, [])
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sertool.data.folds import Fold, fit_protocol, leaking_speakers, make_folds, write_folds
from sertool.data.manifest import Utterance, write_manifest
from sertool.data.tokens import PHONE_INVENTORY_OF_LANGUAGE, get_inventory, phonemise
from sertool.errors import SertoolError
from sertool.stage import atomic_write_json

SUMMARY_NAME = "summary.json"


@dataclass
class PrepReport:
    """What ``prep`` did: kept and skipped counts, label and speaker counts, fold leakage."""

    corpus: str
    out_dir: str
    kept: int
    skipped: dict[str, int]
    oov_words: int
    oov_examples: list[str]
    classes: dict[str, int]
    speakers: dict[str, int]
    protocol: str
    folds: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def leaking_folds(self) -> list[str]:
        """Names of folds where a speaker is in both train/dev and test."""
        return [f["name"] for f in self.folds if f["leaking_speakers"]]

    @classmethod
    def load(cls, out_dir: str | Path) -> PrepReport:
        return cls(**json.loads((Path(out_dir) / SUMMARY_NAME).read_text(encoding="utf-8")))


def phonemise_utterances(utts: list[Utterance]) -> Counter:
    """Fill ``phones`` of every utterance with a transcript; return out-of-vocabulary word counts.

    Languages without an inventory keep ``phones`` null. An empty transcript has no phones.
    """
    oov: Counter = Counter()
    for u in utts:
        if u.text is None or u.language not in PHONE_INVENTORY_OF_LANGUAGE:
            u.phones = None
            continue
        if not u.text.strip():
            u.phones = None
            continue
        result = phonemise(u.text, u.language)
        u.phones = result.phones
        oov.update(result.oov)
    return oov


def finish_prep(
    out_dir: str | Path,
    corpus: str,
    utts: list[Utterance],
    skipped: Counter,
    protocol: str,
    warnings: list[str] | None = None,
    **fold_options: Any,
) -> PrepReport:
    """Phonemise, then write manifest, folds, inventories and summary into ``out_dir``.

    ``fold_options`` go to :func:`~sertool.data.folds.make_folds` (``k``, ``seed``, ``dev``, ...)
    and are recorded in ``folds.json``. A protocol the corpus cannot fill (``speaker-kfold`` with
    more folds than speakers) is replaced as :func:`~sertool.data.folds.fit_protocol` says, and
    the summary's warnings say so.
    """
    if not utts:
        reasons = ", ".join(f"{r}: {n}" for r, n in skipped.items()) or "no audio files found"
        raise SertoolError(f"{corpus}: no utterances kept ({reasons})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    utts = sorted(utts, key=lambda u: u.id)
    oov = phonemise_utterances(utts)
    warnings = list(warnings or [])
    protocol, notice = fit_protocol(utts, protocol, fold_options.get("k", 0))
    if notice is not None:
        warnings.append(notice)
        fold_options = {key: v for key, v in fold_options.items() if key in ("seed", "dev")}
    folds: list[Fold] = make_folds(utts, protocol, **fold_options)

    for lang in sorted({u.language for u in utts if u.phones is not None}):
        inv = get_inventory(PHONE_INVENTORY_OF_LANGUAGE[lang])
        inv.write(out_dir / f"tokens_{inv.name}.txt")
    if any(u.language == "en" and u.text for u in utts):
        get_inventory("char32").write(out_dir / "tokens_char32.txt")
    write_manifest(out_dir / "manifest.jsonl", utts)
    write_folds(out_dir / "folds.json", protocol, folds, **fold_options)

    fold_rows = []
    for f in folds:
        leak = sorted(leaking_speakers(f, utts))
        fold_rows.append(
            {"name": f.name, "train": len(f.train), "dev": len(f.dev), "test": len(f.test), "leaking_speakers": leak}
        )
    report = PrepReport(
        corpus=corpus,
        out_dir=str(out_dir),
        kept=len(utts),
        skipped=dict(skipped),
        oov_words=sum(oov.values()),
        oov_examples=[w for w, _ in oov.most_common(10)],
        classes=dict(sorted(Counter(str(u.emotion) for u in utts).items())),
        speakers=dict(sorted(Counter(u.speaker for u in utts).items())),
        protocol=protocol,
        folds=fold_rows,
        warnings=warnings,
    )
    atomic_write_json(out_dir / SUMMARY_NAME, asdict(report))
    return report
