"""Reading back and checking what ``sertool prep`` writes: the manifest, folds and summary.

Example:
    >>> import json, tempfile
    >>> from sertool.data.folds import Fold, write_folds
    >>> from sertool.testing.audio import make_corpus
    >>> with tempfile.TemporaryDirectory() as d:
    ...     out = Path(d)
    ...     _ = make_corpus(out, num_utts=4, speakers=2)      # utt0000, utt0002: s0; utt0001, utt0003: s1
    ...     write_folds(out / "folds.json", "leave-one-speaker-out",
    ...                 [Fold("s0", ["synthetic/utt0001"], ["synthetic/utt0003"],
    ...                       ["synthetic/utt0000", "synthetic/utt0002"])])
    ...     _ = (out / "summary.json").write_text(json.dumps({"kept": 4}))
    ...     utts, protocol, folds, summary = load_outputs(out)
    >>> len(utts), protocol, [f.name for f in folds], summary
    (4, 'leave-one-speaker-out', ['s0'], {'kept': 4})
    >>> check_folds(utts, folds, speaker_independent=True)   # passes silently
"""

from __future__ import annotations

import json
from pathlib import Path

from sertool.data.folds import Fold, leaking_speakers, read_folds
from sertool.data.manifest import Utterance, read_manifest


def load_outputs(out_dir: Path) -> tuple[dict[str, Utterance], str, list[Fold], dict]:
    """Manifest by id, folds protocol, folds and summary of a prep output directory."""
    utts = {u.id: u for u in read_manifest(out_dir / "manifest.jsonl")}
    protocol, folds = read_folds(out_dir / "folds.json")
    summary = json.loads((out_dir / "summary.json").read_text(encoding="utf-8"))
    return utts, protocol, folds, summary


def check_folds(utts: dict[str, Utterance], folds: list[Fold], speaker_independent: bool) -> None:
    """Assert that every fold has train and test non-empty (dev may be empty), disjoint sets and
    only known ids, and that the folds are speaker-independent exactly when expected.

    Example:
        >>> from sertool.data.manifest import Utterance
        >>> utts = {i: Utterance(id=i, corpus="x", audio=f"/{i}.wav", duration=1.0, sample_rate=16000,
        ...                      speaker=f"x/{spk}", gender="F", language="en", session=None, style="acted")
        ...         for i, spk in [("x/a", "s1"), ("x/b", "s1"), ("x/c", "s2")]}
        >>> check_folds(utts, [Fold("1", train=["x/a"], test=["x/b"])], speaker_independent=True)
        Traceback (most recent call last):
        ...
        AssertionError: ('1', {'x/s1'})
    """
    for f in folds:
        train, dev, test = set(f.train), set(f.dev), set(f.test)
        assert train and test, f.name
        assert not (train & dev or train & test or dev & test), f.name
        assert train | dev | test <= set(utts), f.name
        leak = leaking_speakers(f, utts.values())
        if speaker_independent:
            assert not leak, (f.name, leak)
    if not speaker_independent:
        assert any(leaking_speakers(f, utts.values()) for f in folds)
