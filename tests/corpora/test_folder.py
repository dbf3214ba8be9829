"""``folder``: a corpus of one's own from a directory and a CSV (SEQD-like and call-centre)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sertool.corpora.folder import (
    BUILT_IN,
    default_name,
    parse_intensity,
    parse_rating_range,
    prepare_folder,
    resolve_inputs,
    unique_ids,
)
from sertool.corpora.registry import CORPORA
from sertool.errors import SertoolError

SEQD_CSV = """\
path,emotion,intensity,speaker,gender,text,language,session,split
spk01/anger_001.wav,anger,high,spk01,F,我真的受够了！,zh,s1,train
spk01/trust_001.wav,trust,low,spk01,F,交给你我放心。,zh,s1,train
spk02/neutral_001.wav,neutral,,spk02,male,今天星期三。,zh,s2,test
spk02/joy_001.wav,joy,medium,spk02,M,我太高兴了。,zh,s2,test
spk03/anticipation_001.wav,anticipation,strong,spk03,F,快点开始吧。,zh,,dev
spk03/sad_001.wav,sad,normal,spk03,F,,zh,,train
spk03/contempt_001.wav,contempt,high,spk03,F,哼。,zh,,train
spk03/missing.wav,sad,low,spk03,F,不见了。,zh,,train
spk04/x_001.wav,sad,low,spk04,X,性别不明。,zh,,train
spk04/y_001.wav,sad,7,spk04,F,数字强度。,zh,,train
spk04/z_001.wav,,,spk04,F,没有标签。,zh,,train
spk04/z_001.wav,sad,,spk04,F,重复。,zh,,train
"""


def build_seqd(root: Path, write_wav) -> Path:
    rel = root / "SEQD"
    for line in SEQD_CSV.splitlines()[1:]:
        path = line.split(",")[0]
        if "missing" not in path:
            write_wav(rel / path, 16000)
    (rel / "labels.csv").write_text(SEQD_CSV, encoding="utf-8")
    return rel


def test_seqd_like(tmp_path, write_wav, outputs, folds_ok):
    rel = build_seqd(tmp_path, write_wav)
    report = prepare_folder(rel, tmp_path / "out", name="seqd", style="acted", k=2)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == len(utts) == 7

    u = utts["seqd/spk01/anger_001"]
    assert u.corpus == "seqd" and u.audio == str(rel / "spk01" / "anger_001.wav")
    assert (u.duration, u.sample_rate, u.speaker, u.gender, u.language, u.session, u.style, u.split) == (
        pytest.approx(0.2), 16000, "seqd/spk01", "F", "zh", "s1", "acted", "train")
    assert u.text == "我真的受够了！" and u.phones[:2] == ["uo3", "zh"]
    assert (u.emotion, u.emotion_raw, u.intensity, u.esc, u.eis, u.vad) == (
        "angry", "anger", "high", "anger", 3.5, None)
    trust = utts["seqd/spk01/trust_001"]
    assert (trust.emotion, trust.emotion_raw, trust.esc, trust.eis) == ("other", "trust", "trust", 1.5)
    antic = utts["seqd/spk03/anticipation_001"]
    assert (antic.esc, antic.intensity, antic.eis, antic.split, antic.session) == (
        "anticipation", "strong", 3.0, "dev", None)
    neutral = utts["seqd/spk02/neutral_001"]
    assert (neutral.esc, neutral.eis, neutral.gender, neutral.intensity) == ("neutral", 0.0, "M", None)
    assert utts["seqd/spk02/joy_001"].emotion == "happy" and utts["seqd/spk02/joy_001"].eis == 2.5
    assert utts["seqd/spk03/sad_001"].text is None and utts["seqd/spk03/sad_001"].eis == 2.0
    unlabelled = utts["seqd/spk04/z_001"]
    assert (unlabelled.emotion, unlabelled.esc, unlabelled.eis) == (None, None, -1.0)

    assert summary["skipped"] == {
        "unknown emotion label": 1, "audio file missing": 1, "unknown gender (F, M, female, male or empty)": 1,
        "numeric intensity without --rating-range": 1, "audio listed twice": 1,
    }
    warnings = "\n".join(summary["warnings"])
    assert "labels.csv:8 ('contempt')" in warnings and "labels.csv:13" in warnings
    assert protocol == "speaker-kfold"
    folds_ok(utts, folds, speaker_independent=True)

    prepare_folder(rel, tmp_path / "split", name="seqd", protocol="corpus-split")
    _, protocol, folds, _ = outputs(tmp_path / "split")
    assert protocol == "corpus-split" and len(folds[0].test) == 2


def test_call_centre(tmp_path, write_wav, outputs):
    rel = tmp_path / "calls"
    rows = ["path,emotion,intensity,agent"]
    for i, (emo, rating) in enumerate([("angry", "5"), ("neutral", "1"), ("frustrated", "4"), ("happy", "3")] * 3):
        write_wav(rel / f"call{i:03d}.wav", 8000)
        rows.append(f"call{i:03d}.wav,{emo},{rating},a{i % 2}")
    csv = tmp_path / "elsewhere" / "calls.csv"
    csv.parent.mkdir()
    csv.write_text("\n".join(rows) + "\n")
    with pytest.raises(SertoolError, match="no speaker column"):
        prepare_folder(rel, tmp_path / "out", csv_path=csv, name="calls")
    report = prepare_folder(rel, tmp_path / "out", csv_path=csv, name="calls", style="spontaneous",
                            rating_range=(1, 5), protocol="stratified-kfold", k=3)
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert report.kept == 12
    u = utts["calls/call000"]
    assert (u.sample_rate, u.style, u.language, u.speaker, u.gender, u.text, u.phones) == (
        8000, "spontaneous", "en", "calls/unknown", None, None, None)
    assert (u.emotion, u.intensity, u.esc, u.eis) == ("angry", None, "anger", 4.0)
    assert utts["calls/call002"].esc is None and utts["calls/call002"].eis == -1.0  # frustrated
    assert utts["calls/call003"].eis == pytest.approx(2.5)
    assert any("not speaker-independent" in w for w in summary["warnings"])
    assert "calls.csv: column(s) not used: agent" in summary["warnings"]


def test_parse_intensity():
    assert parse_intensity("Low", None) == ("low", 1.5)
    assert parse_intensity("strong", None) == ("strong", 3.0)
    assert parse_intensity("", None) == (None, None)
    with pytest.raises(SertoolError, match="unknown intensity"):
        parse_intensity("very", None)


def test_parse_rating_range():
    assert parse_rating_range("1,7") == (1.0, 7.0) and parse_rating_range(" 0 , 1.5") == (0.0, 1.5)
    assert parse_rating_range(None) is None
    with pytest.raises(SertoolError, match="must be LOW,HIGH, got '7'"):
        parse_rating_range("7")
    with pytest.raises(SertoolError, match="needs LOW < HIGH"):
        parse_rating_range("5,1")


def test_default_name(tmp_path):
    assert default_name(tmp_path / "SEQD v2") == "seqd-v2"
    assert default_name(tmp_path / "--Calls_2024.b--") == "calls_2024.b"
    assert default_name(tmp_path / "語料") == "custom"


def test_resolve_inputs(tmp_path, monkeypatch):
    """A label CSV given apart from the corpus is made absolute and joins the fingerprint."""
    options = {"protocol": "speaker-kfold", "csv_path": None}
    assert resolve_inputs(options) == (options, [])
    (tmp_path / "labels.csv").write_text("path,emotion\n")
    monkeypatch.chdir(tmp_path)
    resolved, inputs = resolve_inputs({**options, "csv_path": Path("labels.csv")})
    assert resolved["csv_path"] == tmp_path / "labels.csv" and inputs == [tmp_path / "labels.csv"]
    with pytest.raises(SertoolError, match="label CSV not found: .*none.csv"):
        resolve_inputs({"csv_path": "none.csv"})


def test_built_in_names_are_the_registered_corpora():
    assert set(BUILT_IN) == set(CORPORA.names()) - {"folder"}


def test_bad_input(tmp_path, write_wav):
    rel = build_seqd(tmp_path, write_wav)
    with pytest.raises(SertoolError, match="must be lower-case"):
        prepare_folder(rel, tmp_path / "out", name="My Corpus")
    with pytest.raises(SertoolError, match="built-in"):
        prepare_folder(rel, tmp_path / "out", name="iemocap")
    with pytest.raises(SertoolError, match="style"):
        prepare_folder(rel, tmp_path / "out", name="x", style="shouted")
    with pytest.raises(SertoolError, match="label CSV not found"):
        prepare_folder(rel, tmp_path / "out", name="x", csv_path=tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_text("file,label\na.wav,angry\n")
    with pytest.raises(SertoolError, match="missing column"):
        prepare_folder(rel, tmp_path / "out", name="x", csv_path=tmp_path / "bad.csv")


def test_cli(tmp_path, write_wav, cli):
    rel = build_seqd(tmp_path, write_wav)
    result = cli("prep", "folder", rel, tmp_path / "out", "--style", "acted", "-k", "2")
    assert result.exit_code == 0, result.output
    assert "seqd: kept 7 utterances" in result.output  # name defaults to the directory's
    result = cli("prep", "folder", rel, tmp_path / "out2", "--name", "mine", "--rating-range", "1,7", "-k", "2")
    assert result.exit_code == 0 and "mine: kept 8 utterances" in result.output
    bad = cli("prep", "folder", rel, tmp_path / "out3", "--rating-range", "7")
    assert bad.exit_code == 1 and "--rating-range must be LOW,HIGH" in bad.output


# --- label files decoded honestly, ambiguities reported -------------------------------------------

CALLS = [("colère", "anger"), ("joie", "joy"), ("neutre", "neutral"), ("tristesse", "sad")]


def build_calls(root: Path, write_wav, encoding: str, bom: bytes = b"") -> Path:
    """Eight calls by two agents whose names and transcripts are not ASCII, the CSV in ``encoding``."""
    rows = ["path,emotion,speaker,text,language"]
    for i in range(8):
        write_wav(root / f"call{i}.wav", 8000)
        word, emotion = CALLS[i % 4]
        rows.append(f"call{i}.wav,{emotion},{'Zoé' if i % 2 else 'Renée'},{word},fr")
    (root / "labels.csv").write_bytes(bom + ("\r\n".join(rows) + "\r\n").encode(encoding))
    return root


@pytest.mark.parametrize("encoding,bom", [("utf-8", b""), ("utf-8", b"\xef\xbb\xbf"), ("utf-16-le", b"\xff\xfe"),
                                          ("utf-16-be", b"\xfe\xff")])
def test_csv_in_utf8_or_utf16_by_its_mark(tmp_path, write_wav, outputs, encoding, bom):
    rel = build_calls(tmp_path / "calls", write_wav, encoding, bom)
    report = prepare_folder(rel, tmp_path / "out", name="calls", k=2)
    utts, _, _, _ = outputs(tmp_path / "out")
    assert report.kept == 8 and set(report.speakers) == {"calls/Zoé", "calls/Renée"}
    assert utts["calls/call0"].text == "colère" and utts["calls/call0"].emotion == "angry"


def test_undecodable_csv_line_is_named_not_guessed(tmp_path, write_wav, outputs, cli):
    """A cp1252 CSV is not silently re-read as cp1252: the error names the line; --encoding reads it."""
    rel = build_calls(tmp_path / "calls", write_wav, "cp1252")
    with pytest.raises(SertoolError) as e:
        prepare_folder(rel, tmp_path / "out", name="calls", k=2)
    assert str(e.value) == ("labels.csv line 2 is not valid UTF-8 (byte 0xe9 at column 20); "
                            "name the file's encoding with --encoding")
    assert not (tmp_path / "out" / "manifest.jsonl").exists()

    bad = cli("prep", "folder", rel, tmp_path / "out", "--name", "calls", "-k", "2")
    assert bad.exit_code == 1 and bad.raw.count("\n") == 1 and "error: labels.csv line 2 is not valid UTF-8" in bad.raw
    good = cli("prep", "folder", rel, tmp_path / "out", "--name", "calls", "-k", "2", "--encoding", "cp1252")
    assert good.exit_code == 0, good.output
    utts, _, _, _ = outputs(tmp_path / "out")
    assert utts["calls/call0"].text == "colère" and utts["calls/call1"].speaker == "calls/Zoé"
    unknown = cli("prep", "folder", rel, tmp_path / "out2", "--encoding", "klingon")
    assert unknown.exit_code == 1 and "unknown encoding 'klingon'" in unknown.output


def test_row_without_speaker_is_reported(tmp_path, write_wav, outputs):
    rel = tmp_path / "c"
    rows = ["path,emotion,speaker"]
    for i in range(8):
        write_wav(rel / f"u{i}.wav", 16000)
        rows.append(f"u{i}.wav,{['angry', 'sad'][i % 2]},{'' if i == 3 else f's{i % 2}'}")
    (rel / "labels.csv").write_text("\n".join(rows) + "\n")
    report = prepare_folder(rel, tmp_path / "out", name="c", k=2)
    assert report.kept == 7 and report.skipped == {"row without a speaker (speaker-independent folds need one)": 1}
    assert any("labels.csv:5" in w for w in report.warnings)  # u3 is on line 5
    # where folds ignore speakers the row stays, under a speaker named for what it is, and is counted
    report = prepare_folder(rel, tmp_path / "strat", name="c", k=2, protocol="stratified-kfold")
    utts, _, _, _ = outputs(tmp_path / "strat")
    assert report.kept == 8 and not report.skipped and utts["c/u3"].speaker == "c/unknown"
    assert "1 rows without a speaker (kept as speaker 'unknown'), e.g. labels.csv:5" in report.warnings


def test_file_listed_twice_with_different_emotions_is_left_out(tmp_path, write_wav, outputs):
    rel = tmp_path / "c"
    rows = ["path,emotion,speaker"]
    for i in range(6):
        write_wav(rel / f"u{i}.wav", 16000)
        rows.append(f"u{i}.wav,{['angry', 'sad'][i % 2]},s{i % 2}")
    rows += ["u0.wav,sad,s0",      # line 8: contradicts line 2
             "./u1.wav,sadness,s1",  # line 9: the same file and emotion as line 3, spelled differently
             "u2.wav,anger,s0"]    # line 10: 'anger' is line 4's 'angry'
    (rel / "labels.csv").write_text("\n".join(rows) + "\n")
    report = prepare_folder(rel, tmp_path / "out", name="c", k=2)
    utts, _, _, _ = outputs(tmp_path / "out")
    assert "c/u0" not in utts and report.kept == 5
    assert report.skipped == {"audio listed with conflicting emotions (left out)": 2, "audio listed twice": 2}
    assert any("labels.csv:2,8 (angry vs sad)" in w for w in report.warnings)


def test_audio_files_sharing_a_stem_keep_unique_ids(tmp_path, write_wav, outputs):
    rel = tmp_path / "c"
    rows = ["path,emotion,speaker"]
    for i, name in enumerate(["a/x.wav", "b/x.wav", "x.wav", "x.flac", "y.wav", "z.wav"]):
        write_wav(rel / name, 16000, fmt="FLAC" if name.endswith("flac") else None)
        rows.append(f"{name},{['angry', 'sad'][i % 2]},s{i % 2}")
    (rel / "labels.csv").write_text("\n".join(rows) + "\n")
    report = prepare_folder(rel, tmp_path / "out", name="c", k=2)
    utts, _, _, _ = outputs(tmp_path / "out")
    assert report.kept == 6 and not report.skipped
    assert sorted(utts) == ["c/a/x", "c/b/x", "c/x.flac", "c/x.wav", "c/y", "c/z"]
    assert utts["c/x.flac"].audio.endswith("x.flac") and utts["c/x.wav"].audio.endswith("x.wav")
    assert ("2 audio files sharing a path without extension (kept; their ids keep the extension), "
            "e.g. x.flac, x.wav") in report.warnings


def test_unique_ids_outside_the_corpus_and_after_clashes(tmp_path):
    root = tmp_path / "corpus"
    paths = [tmp_path / "p" / "x.wav", tmp_path / "q" / "x.wav", root / "x.wav.flac", root / "y.wav"]
    ids, clashing = unique_ids(paths, root)
    # the outside files clash on "x", then with x.wav.flac's own id "x.wav": numbered in path order
    assert ids == {paths[0]: "x.wav~2", paths[1]: "x.wav~3", paths[2]: "x.wav", paths[3]: "y"}
    assert clashing == paths[:2]


def test_truncated_audio_is_skipped_with_its_reason(tmp_path, write_wav):
    rel = build_seqd(tmp_path, write_wav)
    wav = rel / "spk01" / "anger_001.wav"
    wav.write_bytes(wav.read_bytes()[:-1000])
    report = prepare_folder(rel, tmp_path / "out", name="seqd", k=2)
    assert report.kept == 6
    assert report.skipped["truncated audio file (header promises more samples than the file holds)"] == 1


def test_output_directory_is_checked_before_any_audio(tmp_path, write_wav, monkeypatch, cli):
    import sertool.corpora.folder as folder

    rel = build_seqd(tmp_path, write_wav)

    def no_probing(*args, **kwargs):
        raise AssertionError("audio probed before the output directory was checked")

    monkeypatch.setattr(folder, "probe_audio", no_probing)
    (tmp_path / "file").write_text("")
    with pytest.raises(SertoolError, match=r"cannot create output directory .*file/out: .*file is a file"):
        prepare_folder(rel, tmp_path / "file" / "out", name="seqd")
    with pytest.raises(SertoolError, match=r"output directory .*file is a file, not a directory"):
        prepare_folder(rel, tmp_path / "file", name="seqd")

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("sertool.stage.tempfile.mkstemp", read_only)  # root ignores chmod: fake the refusal
    with pytest.raises(SertoolError, match=r"cannot write to output directory .*ro: Permission denied$"):
        prepare_folder(rel, tmp_path / "ro", name="seqd")
    result = cli("prep", "folder", rel, tmp_path / "ro2", "--name", "seqd")
    assert result.exit_code == 1 and result.raw.count("\n") == 1
    assert "error: cannot write to output directory" in result.raw and "Permission denied" in result.raw


# --- small corpora and the dev set ---------------------------------------------------------------

def build_three_speakers(root: Path, write_wav) -> Path:
    rows = ["path,emotion,speaker"]
    for spk in ("ana", "ben", "cy"):
        for i, emotion in enumerate(["angry", "sad", "happy", "neutral"] * 2):
            write_wav(root / spk / f"{i}.wav", 16000)
            rows.append(f"{spk}/{i}.wav,{emotion},{spk}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_three_speakers_with_the_default_five_folds_are_left_out_one_by_one(tmp_path, write_wav, outputs, folds_ok,
                                                                            cli):
    rel = build_three_speakers(tmp_path / "tiny", write_wav)
    result = cli("prep", "folder", rel, tmp_path / "out")  # default: speaker-kfold, --folds 5
    assert result.exit_code == 0, result.output
    utts, protocol, folds, summary = outputs(tmp_path / "out")
    assert protocol == summary["protocol"] == "leave-one-speaker-out"
    assert [f.name for f in folds] == ["ana", "ben", "cy"] and all(f.dev for f in folds)
    folds_ok(utts, folds, speaker_independent=True)
    notice = "speaker-kfold with --folds 5 needs 5 speakers, found 3: the folds are leave-one-speaker-out (3 folds)"
    assert any(notice in w for w in summary["warnings"]) and notice in result.output
    # a protocol that cannot be filled still fails, naming the flag to change
    bad = cli("prep", "folder", rel, tmp_path / "strat", "--protocol", "stratified-kfold", "--folds", "30")
    assert bad.exit_code == 1 and "use --folds 24 or fewer" in bad.output


def test_dev_none_makes_folds_without_a_dev_set(tmp_path, write_wav, outputs, folds_ok, cli):
    rel = build_three_speakers(tmp_path / "tiny", write_wav)
    result = cli("prep", "folder", rel, tmp_path / "out", "--folds", "3", "--dev", "none")
    assert result.exit_code == 0, result.output
    utts, protocol, folds, _ = outputs(tmp_path / "out")
    assert protocol == "speaker-kfold" and len(folds) == 3 and all(not f.dev for f in folds)
    assert sum(len(f.train) + len(f.test) for f in folds) == 3 * len(utts)  # the dev speakers train instead
    folds_ok(utts, folds, speaker_independent=True)
    assert json.loads((tmp_path / "out" / "folds.json").read_text())["dev"] == "none"
    bad = cli("prep", "folder", rel, tmp_path / "bad", "--dev", "half")
    assert bad.exit_code == 1 and "--dev must be one of speakers, none, got 'half'" in bad.output
