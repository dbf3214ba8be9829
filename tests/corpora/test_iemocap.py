"""IEMOCAP prep on a miniature IEMOCAP_full_release with the release's traps."""

from __future__ import annotations

from pathlib import Path

import pytest

from sertool.corpora.iemocap import clean_transcript, prepare_iemocap
from sertool.errors import SertoolError

HEADER = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"

# (session, dialog, [(utterance, code, (v, a, d), transcript or None)])
DIALOGS = [
    (1, "Ses01F_impro01", [
        ("Ses01F_impro01_F000", "neu", (2.5, 2.5, 2.5), "Excuse me."),
        ("Ses01F_impro01_M000", "ang", (1.5, 4.0, 4.0), "[LAUGHTER] Oh, no -- really? [BREATHING]"),
        ("Ses01F_impro01_F001", "xxx", (2.0, 3.0, 3.0), "[BREATHING]"),
        ("Ses01F_impro01_M001", "exc", (4.0, 4.0, 3.0), "Yes! I got it, I got it."),
    ]),
    (3, "Ses03M_impro05a", [
        ("Ses03M_impro05a_F000", "hap", (4.5, 3.0, 2.0), "That's wonderful."),
        ("Ses03M_impro05a_M000", "sad", (1.0, 1.5, 1.0), "I don't know."),
        ("Ses03M_impro05a_F001", "fru", (2.0, 3.5, 3.5), "Why would you do that?"),
        ("Ses03M_impro05a_M001", "zzz", (2.0, 2.0, 2.0), "Unknown code."),
    ]),
    (5, "Ses05M_script01_1b", [
        ("Ses05M_script01_1b_F000", "neu", (3.0, 2.0, 2.5), "Well, okay."),
        ("Ses05M_script01_1b_M003", "ang", (1.0, 5.0, 5.0), None),
        ("Ses05M_script01_1b_F001", "sad", (1.5, 2.0, 2.0), "No."),
        ("Ses05M_script01_1b_M004", "hap", (4.0, 3.0, 3.0), "Sure."),
    ]),
]


def build_iemocap(root: Path, write_wav) -> Path:
    """A three-session release: two speakers each, irregular dialog names and every trap."""
    rel = root / "IEMOCAP_full_release"
    for session, dialog, utts in DIALOGS:
        base = rel / f"Session{session}"
        emo = base / "dialog" / "EmoEvaluation"
        emo.mkdir(parents=True)
        lines = [HEADER]
        for i, (utt, code, (v, a, d), _) in enumerate(utts):
            lines.append(f"[{i * 3:.4f} - {i * 3 + 2:.4f}]\t{utt}\t{code}\t[{v:.4f}, {a:.4f}, {d:.4f}]\n")
            lines.append("C-E2:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  2;\t()\n\n")
        (emo / f"{dialog}.txt").write_text("".join(lines))
        # Traps: a macOS resource fork and subfolders whose files would add utterances if read.
        (emo / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07Mac OS X        \x00\x02[0.0 - 1.0]\tjunk")
        for sub, suffix in (("Categorical", "_e2_cat"), ("Attribute", "_e2_atr"), ("Self-evaluation", "")):
            (emo / sub).mkdir()
            (emo / sub / f"{dialog}{suffix}.txt").write_text(
                f"[1.0000 - 2.0000]\t{dialog}_F099\tang\t[1.0000, 1.0000, 1.0000]\n"
            )
        trans = base / "dialog" / "transcriptions"
        trans.mkdir(parents=True)
        (trans / f"{dialog}.txt").write_text("".join(
            f"{utt} [{i:06.4f}-{i + 1:06.4f}]: {text}\n" for i, (utt, _, _, text) in enumerate(utts) if text is not None
        ) + f"{dialog}_MXX0 [020.0000-021.0000]: unlabelled turn\n")
        (trans / f"._{dialog}.txt").write_bytes(b"\x00\x05\x16\x07junk")
        wav_dir = base / "sentences" / "wav" / dialog
        for utt, *_ in utts:
            write_wav(wav_dir / f"{utt}.wav", 16000)
        (wav_dir / f"._{utts[0][0]}.wav").write_bytes(b"\x00\x05\x16\x07junk")
    s1 = rel / "Session1"
    # A malformed label line (no V/A/D) whose audio exists: counted once, as malformed.
    with open(s1 / "dialog/EmoEvaluation/Ses01F_impro01.txt", "a") as f:
        f.write("[30.0000 - 32.0000]\tSes01F_impro01_F005\tang\n\n")
        f.write("[33.0000 - 34.0000]\tSes01F_impro01_M009\tneu\t[2.0000, 2.0000, 2.0000]\n\n")  # no audio
    write_wav(s1 / "sentences/wav/Ses01F_impro01/Ses01F_impro01_F005.wav", 16000)
    write_wav(s1 / "sentences/wav/Ses01F_impro01/Ses01F_impro01_M007.wav", 16000)  # no label line
    # An empty audio file with a label line.
    with open(s1 / "dialog/EmoEvaluation/Ses01F_impro01.txt", "a") as f:
        f.write("[35.0000 - 36.0000]\tSes01F_impro01_F006\tsad\t[2.0000, 2.0000, 2.0000]\n\n")
    (s1 / "sentences/wav/Ses01F_impro01/Ses01F_impro01_F006.wav").write_bytes(b"")
    return rel


@pytest.fixture
def release(tmp_path, write_wav) -> Path:
    return build_iemocap(tmp_path, write_wav)


def test_manifest_fields(release, tmp_path, outputs, folds_ok):
    out = tmp_path / "out"
    report = prepare_iemocap(release, out)
    utts, protocol, folds, summary = outputs(out)
    assert report.kept == len(utts) == 11

    u = utts["iemocap/Ses01F_impro01_M000"]
    assert u.corpus == "iemocap"
    assert u.audio == str(release / "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M000.wav")
    assert Path(u.audio).is_absolute()
    assert u.duration == pytest.approx(0.2) and u.sample_rate == 16000
    # The speaking actor (M), not the session's marker actor (F).
    assert u.speaker == "iemocap/Ses01M" and u.gender == "M" and u.session == "Ses01"
    assert u.language == "en" and u.style == "acted" and u.split is None
    assert u.text == "Oh, no -- really?"
    assert u.phones[:2] == ["OW1", "sil"] and all(p for p in u.phones)
    assert (u.emotion, u.emotion_raw, u.intensity, u.esc) == ("angry", "ang", None, "anger")
    assert u.vad == [1.5, 4.0, 4.0]
    assert u.eis == pytest.approx(1 + 3 * (4.0 - 1) / 4)  # dominance 1–5 → 1–4

    neutral = utts["iemocap/Ses01F_impro01_F000"]
    assert (neutral.emotion, neutral.esc, neutral.eis, neutral.gender) == ("neutral", "neutral", 0.0, "F")
    # xxx: kept, emotion null, tags-only transcript → empty text and no phones.
    xxx = utts["iemocap/Ses01F_impro01_F001"]
    assert (xxx.emotion, xxx.emotion_raw, xxx.esc, xxx.eis) == (None, "xxx", None, -1.0)
    assert xxx.text == "" and xxx.phones is None and xxx.vad == [2.0, 3.0, 3.0]
    exc = utts["iemocap/Ses01F_impro01_M001"]
    assert (exc.emotion, exc.esc) == ("excited", "joy") and exc.text == "Yes! I got it, I got it."
    fru = utts["iemocap/Ses03M_impro05a_F001"]
    assert (fru.emotion, fru.esc, fru.eis) == ("frustrated", None, -1.0)
    # Irregular dialog names: speaker from the utterance's last field.
    assert utts["iemocap/Ses03M_impro05a_F000"].speaker == "iemocap/Ses03F"
    odd = utts["iemocap/Ses05M_script01_1b_M003"]
    assert (odd.speaker, odd.session, odd.gender, odd.text, odd.phones) == ("iemocap/Ses05M", "Ses05", "M", None, None)

    # Subfolders and ._ files were not read.
    assert not any(i.endswith("_F099") for i in utts)
    assert summary["skipped"] == {
        "malformed label line": 1,
        "unknown emotion label": 1,
        "audio file missing": 1,
        "audio without a label line": 1,
        "empty audio file": 1,
    }
    warnings = "\n".join(summary["warnings"])
    assert "Ses01F_impro01.txt:" in warnings and "Ses01F_impro01_M007" in warnings
    assert "10039 utterances, found 11" in warnings and "5531" in warnings
    assert "without a transcript line" in warnings
    assert summary["classes"] == {"None": 1, "angry": 2, "excited": 1, "frustrated": 1, "happy": 2,
                                  "neutral": 2, "sad": 2}
    assert summary["speakers"] == {"iemocap/Ses01F": 2, "iemocap/Ses01M": 2, "iemocap/Ses03F": 2,
                                   "iemocap/Ses03M": 1, "iemocap/Ses05F": 2, "iemocap/Ses05M": 2}
    assert (out / "tokens_cmudict85.txt").read_text().count("\n") == 85
    assert (out / "tokens_char32.txt").is_file()

    # Default: leave-one-session-out, speaker-independent.
    assert protocol == "leave-one-session-out"
    assert [f.name for f in folds] == ["Ses01", "Ses03", "Ses05"]
    folds_ok(utts, folds, speaker_independent=True)
    assert all(f.dev for f in folds)
    assert not report.leaking_folds()


def test_other_protocols(release, tmp_path, outputs, folds_ok):
    prepare_iemocap(release, tmp_path / "spk", protocol="leave-one-speaker-out")
    utts, protocol, folds, _ = outputs(tmp_path / "spk")
    assert len(folds) == 6 and [f.name for f in folds][0] == "Ses01F"
    folds_ok(utts, folds, speaker_independent=True)

    report = prepare_iemocap(release, tmp_path / "rand", protocol="stratified-kfold", k=2, seed=3)
    utts, protocol, folds, summary = outputs(tmp_path / "rand")
    assert protocol == "stratified-kfold" and len(folds) == 2
    folds_ok(utts, folds, speaker_independent=False)
    assert any("not speaker-independent" in w for w in summary["warnings"])
    assert report.leaking_folds()


def test_bad_input(tmp_path, release):
    with pytest.raises(SertoolError, match="corpus directory not found"):
        prepare_iemocap(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SertoolError, match="Session1..Session5"):
        prepare_iemocap(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(SertoolError, match="does not apply to iemocap"):
        prepare_iemocap(release, tmp_path / "out", protocol="corpus-split")


def test_clean_transcript():
    assert clean_transcript("[LAUGHTER] Oh, no -- really? [BREATHING]") == "Oh, no -- really?"
    assert clean_transcript(" [GARBAGE]  [LIPSMACK] ") == ""


def test_cli(release, tmp_path, cli):
    out = tmp_path / "cli"
    result = cli("prep", "iemocap", release, out)
    assert result.exit_code == 0, result.output
    assert "kept 11 utterances" in result.output and "Ses01M 2" in result.output
    assert "skipped 1: malformed label line" in result.output
    again = cli("prep", "iemocap", release, out)
    assert again.exit_code == 0 and "up to date" in again.output
    # A new file changes the inputs fingerprint: the stage is redone.
    (release / "Session5/sentences/wav/Ses05M_script01_1b/Ses05M_script01_1b_F001.wav").write_bytes(b"")
    redo = cli("prep", "iemocap", release, out)
    assert "up to date" not in redo.output and "empty audio file" in redo.output

    refused = cli("prep", "iemocap", release, tmp_path / "dl", "--download")
    assert refused.exit_code != 0
    assert "sail.usc.edu" in refused.output and len(refused.raw.strip().splitlines()) == 1


def test_dialog_ten_fold_is_the_decomposed_papers_speaker_dependent_protocol(release, tmp_path, outputs, folds_ok,
                                                                             cli):
    result = cli("prep", "iemocap", release, tmp_path / "dlg", "--protocol", "dialog-10fold")
    assert result.exit_code == 0, result.output
    utts, protocol, folds, summary = outputs(tmp_path / "dlg")
    # this release holds three dialog groups (Ses01F, Ses03M, Ses05M); the full one ten
    assert protocol == "dialog-10fold" and [f.name for f in folds] == ["Ses01F", "Ses03M", "Ses05M"]
    assert sorted(folds[0].test) == sorted(i for i in utts if i.startswith("iemocap/Ses01F_"))
    assert sorted(folds[0].dev) == sorted(i for i in utts if i.startswith("iemocap/Ses03M_"))
    folds_ok(utts, folds, speaker_independent=True)  # one dialog group per session here: no speaker shared
    assert any("dialog-10fold is not speaker-independent by design" in w for w in summary["warnings"])
    prepare_iemocap(release, tmp_path / "nodev", protocol="dialog-10fold", dev="none")
    _, _, folds, _ = outputs(tmp_path / "nodev")
    assert all(not f.dev for f in folds)
