"""AISHELL-1 prep on a miniature release: orphan transcripts and wavs, speaker.info genders."""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.corpora.aishell import prepare_aishell
from sertool.errors import SertoolError

TRANSCRIPTS = {
    "BAC009S0002W0122": "而 对 楼市 成交 抑制 作用 最 大 的 限 购",
    "BAC009S0002W0123": "也 成为 地方 政府 的 眼中 钉",
    "BAC009S0003W0121": "自 六月 底 呼和浩特 市 率先 宣布 取消 限 购 后",
    "BAC009S0724W0121": "甚至 出现 交易 几乎 停滞 的 情况",
    "BAC009S0724W0122": "一 线 城市 房地产 市场 基本 平稳",
    "BAC009S0764W0121": "市场 情绪 有所 好转",
    "BAC009S0764W0122": "  多 个   空格  ",
    "BAC009S0916W0121": "没有 音频 的 一句",  # transcript without audio
}
WAVS = {
    "train": ["BAC009S0002W0122", "BAC009S0002W0123", "BAC009S0003W0121", "BAC009S0003W0999"],
    "dev": ["BAC009S0724W0121", "BAC009S0724W0122"],
    "test": ["BAC009S0764W0121", "BAC009S0764W0122"],
}


def build_aishell(root: Path, write_wav) -> Path:
    rel = root / "aishell"
    (rel / "data_aishell" / "transcript").mkdir(parents=True)
    (rel / "data_aishell" / "transcript" / "aishell_transcript_v0.8.txt").write_text(
        "".join(f"{u} {t}\n" for u, t in TRANSCRIPTS.items()), encoding="utf-8")
    for split, utts in WAVS.items():
        for u in utts:
            write_wav(rel / "data_aishell" / "wav" / split / u[6:11] / f"{u}.wav", 16000)
    (rel / "resource_aishell").mkdir()
    (rel / "resource_aishell" / "speaker.info").write_text("0002 F\n0003 M\n0724 M\n0764 F\n")
    return rel


def test_manifest_fields(tmp_path, write_wav, outputs, folds_ok):
    rel = build_aishell(tmp_path, write_wav)
    report = prepare_aishell(rel, tmp_path / "out", k=2)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 7

    u = utts["aishell/BAC009S0002W0122"]
    assert u.audio == str(rel / "data_aishell/wav/train/S0002/BAC009S0002W0122.wav")
    assert (u.duration, u.sample_rate, u.speaker, u.gender, u.language, u.session, u.style, u.split) == (
        pytest.approx(0.2), 16000, "aishell/S0002", "F", "zh", None, "read", "train")
    assert u.text == "而 对 楼市 成交 抑制 作用 最 大 的 限 购"
    assert u.phones[:3] == ["er2", "d", "uei4"]
    assert (u.emotion, u.emotion_raw, u.intensity, u.esc, u.eis, u.vad) == (None, None, None, None, -1.0, None)
    assert utts["aishell/BAC009S0003W0121"].gender == "M"
    assert utts["aishell/BAC009S0724W0121"].split == "dev" and utts["aishell/BAC009S0764W0122"].split == "test"
    assert utts["aishell/BAC009S0764W0122"].text == "多 个 空格"

    assert summary["skipped"] == {"transcript without audio": 1, "audio without transcript": 1}
    warnings = "\n".join(summary["warnings"])
    assert "BAC009S0916W0121" in warnings and "BAC009S0003W0999" in warnings
    assert (tmp_path / "out" / "tokens_pinyin202.txt").is_file()
    assert not (tmp_path / "out" / "tokens_char32.txt").exists()
    assert protocol == "speaker-kfold"
    folds_ok(utts, folds, speaker_independent=True)


def test_unextracted_and_missing(tmp_path, write_wav, outputs):
    rel = build_aishell(tmp_path, write_wav)
    (rel / "data_aishell" / "wav" / "S0915.tar.gz").write_bytes(b"")
    (rel / "resource_aishell" / "speaker.info").unlink()
    prepare_aishell(rel, tmp_path / "out", protocol="corpus-split")
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert all(u.gender is None for u in utts.values())
    warnings = "\n".join(summary["warnings"])
    assert "not extracted" in warnings and "speaker.info not found" in warnings
    (tmp_path / "empty").mkdir()
    with pytest.raises(SertoolError, match="is it AISHELL-1"):
        prepare_aishell(tmp_path / "empty", tmp_path / "out2")
