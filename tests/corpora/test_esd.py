"""ESD prep on a miniature 'Emotion Speech Dataset': transcripts in GB2312, UTF-16, UTF-8 and
Latin-1 (one that also decodes as GB18030), tab and space separators, the corpus's own split."""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.corpora.esd import decode_transcripts, parse_line, plausible, prepare_esd

# (number, emotion folder, split folder)
FILES = [
    (1, "Neutral", "evaluation"), (21, "Neutral", "test"), (51, "Neutral", "train"),
    (351, "Angry", "evaluation"), (371, "Angry", "test"), (401, "Angry", "train"),
    (701, "Happy", "train"), (1051, "Sad", "train"), (1401, "Surprise", "test"),
]
FOLDER_OF = {n: emo for n, emo, _ in FILES}
ZH_WORD = {"Neutral": "中立", "Angry": "生气", "Happy": "快乐", "Sad": "伤心", "Surprise": "惊喜"}
ZH_TEXT = {
    1: "打远一看，它们的确很是美丽，", 2: "没有音频的一句。", 21: "今天天气很好。", 51: "我们明天再说吧！",
    351: "你怎么又迟到了？", 371: "这件事我不同意。", 401: "别再说了。", 701: "我考上大学了！",
    1051: "他走了，再也不回来了。", 1401: "真的吗？太意外了！",
}
EN_TEXT = {
    1: "The nine the eggs, I keep.", 2: "A line without audio.", 21: "I am going to the store.",
    51: "Chicken, I'd like some.", 351: "Don't you dare!", 371: "He talks too much.",
    401: "Stop it, now.", 701: "We won the game!", 1051: "She left yesterday.", 1401: "Really? Today?",
}
# Latin-1 text whose accented letters are each followed by a byte that GB18030 accepts as a
# trail byte: the file decodes without error as GB18030 too, into Han characters.
LATIN1_TEXT = {**EN_TEXT, 51: "The élan of Málaga.", 701: "Señor Müller wins."}


def transcript(speaker: str, texts: dict[int, str], words: dict[str, str], sep: str) -> str:
    return "".join(
        f"{speaker}_{n:06d}{sep}{texts[n]}{sep}{words[FOLDER_OF.get(n, 'Neutral')]}\r\n" for n in sorted(texts)
    )


def build_esd(root: Path, write_wav) -> Path:
    rel = root / "Emotion Speech Dataset"
    en_words = {k: k for k in ZH_WORD}
    specs = {
        # speaker: (text, label words, separator, encoding, BOM)
        "0001": (ZH_TEXT, ZH_WORD, "\t", "gb2312", b""),
        "0002": (ZH_TEXT, ZH_WORD, "\t", "utf-16-le", b"\xff\xfe"),
        "0004": (ZH_TEXT, ZH_WORD, " ", "utf-8", b""),
        "0011": (EN_TEXT, en_words, "\t", "utf-8", b""),
        "0012": (LATIN1_TEXT, en_words, " ", "latin-1", b""),
        "0016": (EN_TEXT, en_words, "\t", "utf-16-le", b""),  # UTF-16 without a BOM
    }
    for speaker, (texts, words, sep, encoding, bom) in specs.items():
        spk = rel / speaker
        for n, emotion, split in FILES:
            write_wav(spk / emotion / split / f"{speaker}_{n:06d}.wav", 16000)
        (spk / f"{speaker}.txt").write_bytes(bom + transcript(speaker, texts, words, sep).encode(encoding))
    # 0004 labels its 000701 Sad although it sits in Happy/: the folder wins, the user hears of it.
    t4 = (rel / "0004" / "0004.txt").read_text(encoding="utf-8")
    t4 = t4.replace("我考上大学了！ 快乐", "我考上大学了！ 伤心")
    (rel / "0004" / "0004.txt").write_text(t4, encoding="utf-8")
    # 0011 has one line of bytes no encoding makes sense of.
    with open(rel / "0011" / "0011.txt", "ab") as f:
        f.write(b"0011_000002\t\x00\x01\x02\tNeutral\r\n")
    raw = (rel / "0011" / "0011.txt").read_bytes().replace(
        b"0011_000002\tA line without audio.\tNeutral\r\n", b"")
    (rel / "0011" / "0011.txt").write_bytes(raw)
    write_wav(rel / "0011" / "Neutral" / "train" / "0011_000002.wav", 16000)
    write_wav(rel / "0021" / "Angry" / "train" / "0021_000351.wav", 16000)  # not an ESD speaker
    write_wav(rel / "0001" / "Bored" / "train" / "0001_001800.wav", 16000)  # not an ESD emotion
    (rel / "ReadMe.txt").write_text("0001: Chinese Female\n")
    return rel


def test_latin1_trap_is_a_real_trap():
    raw = transcript("0012", LATIN1_TEXT, {k: k for k in ZH_WORD}, " ").encode("latin-1")
    wrong = raw.decode("gb18030")  # no error...
    assert any("\u4e00" <= c <= "\u9fff" for c in wrong)  # ...but Han characters in English
    decoded = decode_transcripts(raw, "0012", "en")
    assert decoded.encoding == "cp1252" and not decoded.bad_lines
    assert decoded.lines["0012_000051"] == ("The élan of Málaga.", "Neutral")


def test_manifest_fields(tmp_path, write_wav, outputs, folds_ok):
    rel = build_esd(tmp_path, write_wav)
    report = prepare_esd(rel, tmp_path / "out", k=3)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 6 * 9 + 1

    for speaker in ("0001", "0002", "0004"):
        u = utts[f"esd/{speaker}_000001"]
        assert u.text == "打远一看，它们的确很是美丽，", speaker
        assert u.phones[:4] == ["d", "a3", "van3", "i1"]  # strict initials: 远 has none
        assert (u.language, u.emotion, u.emotion_raw, u.esc, u.eis, u.split) == (
            "zh", "neutral", "中立", "neutral", 0.0, "dev")
    assert utts["esd/0001_000351"].gender == "F" and utts["esd/0004_000351"].gender == "M"
    angry = utts["esd/0002_000371"]
    assert angry.audio == str(rel / "0002" / "Angry" / "test" / "0002_000371.wav")
    assert (angry.duration, angry.sample_rate, angry.speaker, angry.session, angry.style) == (
        pytest.approx(0.2), 16000, "esd/0002", None, "acted")
    assert (angry.text, angry.emotion, angry.emotion_raw, angry.intensity, angry.esc, angry.eis, angry.split,
            angry.vad) == ("这件事我不同意。", "angry", "生气", None, "anger", -1.0, "test", None)
    assert utts["esd/0004_000401"].split == "train"
    # Space-separated Mandarin: the emotion word is not part of the text.
    assert utts["esd/0004_001401"].text == "真的吗？太意外了！"

    en = utts["esd/0011_000001"]
    assert (en.text, en.language, en.gender, en.emotion_raw) == ("The nine the eggs, I keep.", "en", "M", "Neutral")
    assert en.phones[:3] == ["DH", "AH0", "N"]
    assert utts["esd/0012_000051"].text == "The élan of Málaga."
    assert utts["esd/0012_000701"].text == "Señor Müller wins."
    assert utts["esd/0012_000021"].text == "I am going to the store."  # space separators
    assert utts["esd/0016_001401"].text == "Really? Today?" and utts["esd/0016_001401"].gender == "F"
    assert utts["esd/0016_001401"].emotion_raw == "Surprise"
    # The undecodable line: utterance kept without text, and reported.
    bad = utts["esd/0011_000002"]
    assert bad.text is None and bad.phones is None and bad.emotion == "neutral"
    # Folder wins over a disagreeing transcript word.
    assert utts["esd/0004_000701"].emotion == "happy" and utts["esd/0004_000701"].emotion_raw == "伤心"

    warnings = "\n".join(summary["warnings"])
    assert "0011.txt:" in warnings and "0011_000002" in warnings
    assert "disagree with their folder" in warnings and "0004_000701" in warnings
    assert "transcript lines without audio" in warnings and "0001_000002" in warnings
    assert summary["skipped"] == {"speaker outside 0001–0020": 1, "unknown emotion folder": 1}
    # Accented names are not in CMUdict: counted, never silently dropped.
    assert summary["oov_words"] >= 1 and summary["oov_examples"]
    assert {p.name for p in (tmp_path / "out").glob("tokens_*")} == {
        "tokens_pinyin202.txt", "tokens_cmudict85.txt", "tokens_char32.txt"}
    assert (tmp_path / "out" / "tokens_pinyin202.txt").read_text().count("\n") == 202

    assert protocol == "speaker-kfold"
    folds_ok(utts, folds, speaker_independent=True)


def test_corpus_split(tmp_path, write_wav, outputs, folds_ok):
    rel = build_esd(tmp_path, write_wav)
    report = prepare_esd(rel, tmp_path / "out", protocol="corpus-split")
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert protocol == "corpus-split" and len(folds) == 1
    f = folds[0]
    assert {utts[i].split for i in f.train} == {"train"} and {utts[i].split for i in f.dev} == {"dev"}
    assert {utts[i].split for i in f.test} == {"test"}
    folds_ok(utts, folds, speaker_independent=False)
    assert report.leaking_folds() == ["corpus"]
    assert any("corpus-split is not speaker-independent" in w for w in summary["warnings"])


def test_line_parsing():
    assert parse_line("0011_000005\tHe was sad", "0011", "en") == ("0011_000005", "He was sad", None)
    assert parse_line("0011_000005\tHe was sad\tsad", "0011", "en") == ("0011_000005", "He was sad", "Sad")
    assert parse_line("0011_000005 He was so sad", "0011", "en") == ("0011_000005", "He was so sad", None)
    assert parse_line("0012_000005\tText\tNeutral", "0011", "en") is None  # another speaker's id
    assert not plausible("Ã©lan", "en") and not plausible("´ò·ÖÒ»", "zh") and plausible("ATM机坏了。", "zh")


def test_cli_download_refused(tmp_path, write_wav, cli):
    rel = build_esd(tmp_path, write_wav)
    result = cli("prep", "esd", rel, tmp_path / "out", "--download")
    assert result.exit_code == 1 and "HLTSingapore" in result.output
    result = cli("prep", "esd", rel, tmp_path / "out", "-k", "3")
    assert result.exit_code == 0, result.output
    assert "0001 9" in result.output and "kept 55 utterances" in result.output
