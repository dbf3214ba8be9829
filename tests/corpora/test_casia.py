"""CASIA prep on a miniature CASIA tree: mixed-case speaker folders, both fold protocols."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sertool.corpora.casia import prepare_casia
from sertool.errors import SertoolError

EMOTIONS = ("angry", "fear", "happy", "neutral", "sad", "surprise")


def build_casia(root: Path, write_wav, per_cell: int = 10) -> Path:
    rel = root / "CASIA"
    # Speaker folders as copies spell them: mixed case.
    for speaker in ("liuchanhg", "WangZhe", "ZhaoQuanYin", "ZhaoZuoxiang"):
        for emotion in EMOTIONS:
            for n in range(201, 201 + per_cell):
                write_wav(rel / speaker / emotion / f"{n}.wav", 16000)
    return rel


def test_manifest_and_loso(tmp_path, write_wav, outputs, folds_ok):
    rel = build_casia(tmp_path, write_wav)
    write_wav(rel / "liuchanhg" / "bored" / "201.wav", 16000)  # not a CASIA emotion
    write_wav(rel / "wangzhe_extra" / "angry" / "201.wav", 16000)  # unknown speaker: kept, gender null
    write_wav(rel / "liuchanhg" / "201.wav", 16000)  # outside an emotion folder
    report = prepare_casia(rel, tmp_path / "out")
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 4 * 6 * 10 + 1

    u = utts["casia/zhaozuoxiang_surprise_205"]
    assert u.audio == str(rel / "ZhaoZuoxiang" / "surprise" / "205.wav")
    assert (u.speaker, u.gender, u.language, u.style, u.session, u.split) == (
        "casia/zhaozuoxiang", "M", "zh", "acted", None, None)
    assert (u.text, u.phones, u.vad, u.intensity) == (None, None, None, None)
    assert (u.emotion, u.emotion_raw, u.esc, u.eis) == ("surprise", "surprise", "surprise", -1.0)
    assert utts["casia/wangzhe_fear_201"].gender == "M"
    assert utts["casia/zhaoquanyin_neutral_201"].gender == "F"
    assert (utts["casia/zhaoquanyin_neutral_201"].esc, utts["casia/zhaoquanyin_neutral_201"].eis) == ("neutral", 0.0)
    assert utts["casia/wangzhe_extra_angry_201"].gender is None
    assert summary["skipped"] == {"unknown emotion folder": 1, "audio outside an emotion folder": 1}
    assert not list((tmp_path / "out").glob("tokens_*"))  # no transcripts, no inventories

    assert protocol == "leave-one-speaker-out" and len(folds) == 5
    folds_ok(utts, folds, speaker_independent=True)


def test_ten_fold_protocol(tmp_path, write_wav, outputs, folds_ok):
    rel = build_casia(tmp_path, write_wav)
    report = prepare_casia(rel, tmp_path / "out", protocol="casia-10fold")
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert protocol == "casia-10fold" and len(folds) == 10
    folds_ok(utts, folds, speaker_independent=False)
    assert len(report.leaking_folds()) == 10
    assert any("casia-10fold is not speaker-independent" in w for w in summary["warnings"])
    tests = set()
    for f in folds:
        # Each test set: one sentence of every speaker × emotion cell, the same sentence in every cell.
        cells = Counter((utts[i].speaker, utts[i].emotion) for i in f.test)
        assert len(cells) == 24 and set(cells.values()) == {1}
        assert len({i.rsplit("_", 1)[1] for i in f.test}) == 1
        assert len(f.dev) == 24 and len(f.train) == 192
        tests.update(f.test)
    assert tests == set(utts)  # every utterance tested exactly once


def test_mixed_case_duplicates(tmp_path, write_wav, outputs):
    rel = build_casia(tmp_path, write_wav, per_cell=2)
    write_wav(rel / "wangzhe" / "angry" / "201.wav", 16000)  # same speaker, other spelling
    prepare_casia(rel, tmp_path / "out")
    utts, _, _, summary = outputs(tmp_path / "out")
    assert summary["skipped"] == {"duplicate utterance id": 1}
    assert summary["speakers"]["casia/wangzhe"] == 12


def test_bad_input(tmp_path, cli):
    with pytest.raises(SertoolError, match="not found"):
        prepare_casia(tmp_path / "CASIA", tmp_path / "out")
    (tmp_path / "CASIA").mkdir()
    with pytest.raises(SertoolError, match="no speaker folders"):
        prepare_casia(tmp_path / "CASIA", tmp_path / "out")
    result = cli("prep", "casia", tmp_path / "CASIA", tmp_path / "out", "--download")
    assert result.exit_code == 1 and "chineseldc" in result.output
