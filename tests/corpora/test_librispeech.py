"""LibriSpeech prep on a miniature LibriSpeech tree (flac, trans.txt, SPEAKERS.TXT)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.corpora.librispeech import prepare_librispeech, read_speakers
from sertool.errors import SertoolError

SPEAKERS_TXT = """\
; Some README-like comment lines
;ID  |SEX| SUBSET           |MINUTES| NAME
14   | F | train-clean-360  | 25.03 | Kristin LeMoine
60   | M | train-clean-100  | 20.18 | |CBW|Simon
84   | F | dev-clean        |  8.02 | Christie Nowak
121  | F | test-clean       | 12.00 | Someone
174  | M | dev-clean        |  8.04 | Peter Eastman
237  | F | test-clean       | 12.00 | Someone Else
"""

# subset → speaker → chapter → [(utterance number, text)]
TREE = {
    "dev-clean": {"84": {"121123": [(0, "GO DO YOU HEAR"), (1, "BUT IN LESS THAN FIVE MINUTES")]},
                  "174": {"50561": [(0, "FORGOTTEN TOO THE NAME OF GILLIAN")]}},
    "test-clean": {"121": {"121726": [(0, "ALSO A POPULAR CONTRIVANCE")]},
                   "237": {"126133": [(0, "HE WAS A QUIZZICAL FELLOW"), (1, "IT'S ALL RIGHT")]}},
    "train-clean-100": {"60": {"121082": [(0, "NOT AT ALL"), (1, "XYZZYQ PLUGH")]},
                        "14": {"208": [(0, "THE CHAPTER BEGINS")]}},
}


def build_librispeech(root: Path, write_wav) -> Path:
    rel = root / "LibriSpeech"
    rel.mkdir()
    (rel / "SPEAKERS.TXT").write_text(SPEAKERS_TXT)
    for subset, speakers in TREE.items():
        for spk, chapters in speakers.items():
            for chapter, utts in chapters.items():
                d = rel / subset / spk / chapter
                lines = []
                for n, text in utts:
                    write_wav(d / f"{spk}-{chapter}-{n:04d}.flac", 16000)
                    lines.append(f"{spk}-{chapter}-{n:04d} {text}\n")
                (d / f"{spk}-{chapter}.trans.txt").write_text("".join(lines))
    # Traps: a transcript line without its flac, a flac without a transcript line.
    with open(rel / "dev-clean/84/121123/84-121123.trans.txt", "a") as f:
        f.write("84-121123-0009 A LINE WITHOUT AUDIO\n")
    write_wav(rel / "test-clean/121/121726/121-121726-0005.flac", 16000)
    (rel / "BOOKS.TXT").write_text("not a subset\n")
    return rel


def test_manifest_fields(tmp_path, write_wav, outputs, folds_ok):
    rel = build_librispeech(tmp_path, write_wav)
    report = prepare_librispeech(rel, tmp_path / "out", k=3)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 9

    u = utts["librispeech/84-121123-0001"]
    assert u.audio == str(rel / "dev-clean/84/121123/84-121123-0001.flac")
    assert (u.duration, u.sample_rate, u.speaker, u.gender, u.language, u.session, u.style, u.split) == (
        pytest.approx(0.2), 16000, "librispeech/84", "F", "en", None, "read", "dev")
    assert u.text == "BUT IN LESS THAN FIVE MINUTES" and u.phones[:2] == ["B", "AH1"]
    assert (u.emotion, u.emotion_raw, u.intensity, u.esc, u.eis, u.vad) == (None, None, None, None, -1.0, None)
    assert utts["librispeech/237-126133-0001"].split == "test"
    assert utts["librispeech/60-121082-0000"].gender == "M"  # the name holding '|' parsed right
    assert utts["librispeech/14-208-0000"].split == "train"

    assert summary["skipped"] == {"transcript without audio": 1, "audio without transcript": 1}
    assert summary["oov_words"] == 2 and set(summary["oov_examples"]) == {"XYZZYQ", "PLUGH"}
    assert summary["classes"] == {"None": 9}
    assert protocol == "speaker-kfold"
    folds_ok(utts, folds, speaker_independent=True)


def test_corpus_split_is_speaker_independent(tmp_path, write_wav, outputs, folds_ok):
    rel = build_librispeech(tmp_path, write_wav)
    report = prepare_librispeech(rel, tmp_path / "out", protocol="corpus-split")
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert protocol == "corpus-split" and [len(folds[0].train), len(folds[0].dev), len(folds[0].test)] == [3, 3, 3]
    folds_ok(utts, folds, speaker_independent=True)
    assert not report.leaking_folds()
    assert not any("speaker-independent" in w for w in summary["warnings"])


def test_speakers_file_and_errors(tmp_path):
    p = tmp_path / "SPEAKERS.TXT"
    p.write_text(SPEAKERS_TXT)
    assert read_speakers(p) == {"14": "F", "60": "M", "84": "F", "121": "F", "174": "M", "237": "F"}
    (tmp_path / "LibriSpeech").mkdir()
    with pytest.raises(SertoolError, match="no LibriSpeech subset folders"):
        prepare_librispeech(tmp_path / "LibriSpeech", tmp_path / "out")
    with pytest.raises(SertoolError, match="does not apply"):
        prepare_librispeech(tmp_path / "LibriSpeech", tmp_path / "out", protocol="leave-one-session-out")
