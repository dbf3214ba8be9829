"""``sertool infer`` as a product: every input answered (or an error record), any format, long recordings, the card.

The model is the session's tiny log-mel SA-CNN-BLSTM (``tiny_model``, tests/conftest.py), trained
with a 1 s training length, so a few seconds of audio is already a "long" clip.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from typer.testing import CliRunner

from sertool.cli.main import app
from sertool.errors import SertoolError
from sertool.testing.audio import harmonic_tone
from sertool.testing.inference import write_long_recording

LABELS = ["neutral", "happy", "angry", "sad"]


def _refuse(constant: str):
    raise AssertionError(f"not strict JSON: {constant}")


def strict(line: str) -> dict:
    """A record, refusing NaN and Infinity (which json.loads would accept)."""
    return json.loads(line, parse_constant=_refuse)


def infer(*args):
    """``sertool infer ARGS`` in-process: (exit code, records on stdout, stderr lines)."""
    result = CliRunner().invoke(app, ["infer", *(str(a) for a in args)], catch_exceptions=False)
    return result.exit_code, [strict(line) for line in result.stdout.splitlines()], result.stderr.splitlines()


def is_answer(record: dict) -> bool:
    probs = record["probabilities"]
    return (list(probs) == LABELS and record["emotion"] == max(probs, key=probs.get)
            and sum(probs.values()) == pytest.approx(1.0, abs=1e-9) and record["gender"] in ("F", "M")
            and "error" not in record)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> Path:
    """Three good clips in three formats, three bad ones, and a file that is not audio."""
    d = tmp_path_factory.mktemp("mixed")
    tone = harmonic_tone(180.0, 1.5, vibrato=8.0)  # 16 kHz
    stereo = np.stack([soxr.resample(tone, 16000, 44100)] * 2, axis=1) * [1.0, 0.5]
    sf.write(d / "a_stereo44k.wav", stereo, 44100)
    (d / "sub").mkdir()
    sf.write(d / "sub" / "b_8k.flac", soxr.resample(tone, 16000, 8000), 8000)
    sf.write(d / "c.ogg", tone, 16000, format="OGG", subtype="VORBIS")
    nan = tone.copy()
    nan[8000] = np.nan
    sf.write(d / "d_nan.wav", nan, 16000, subtype="FLOAT")
    (d / "e_corrupt.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage, not a header")
    (d / "f_empty.wav").write_bytes(b"")
    (d / "notes.txt").write_text("not audio: not an input")
    return d


def test_a_folder_of_mixed_clips_gives_three_answers_and_three_error_records(tiny_model, mixed):
    code, records, stderr = infer(tiny_model, mixed, "--jobs", 1, "--batch-size", 1, "--device", "cpu")
    assert code == 1
    assert [Path(r["file"]).relative_to(mixed).as_posix() for r in records] == [
        "a_stereo44k.wav", "c.ogg", "d_nan.wav", "e_corrupt.wav", "f_empty.wav", "sub/b_8k.flac"]
    good, nan, corrupt, empty = [records[i] for i in (0, 1, 5)], records[2], records[3], records[4]
    assert all(is_answer(r) for r in good)
    assert nan == {"file": str(mixed / "d_nan.wav"), "error": "non-finite samples (NaN or Inf) at 0.50 s"}
    assert corrupt["error"].startswith(f"cannot read audio file {mixed / 'e_corrupt.wav'}: ")
    assert empty["error"] == f"empty file (0 bytes): {mixed / 'f_empty.wav'}"
    assert stderr == ["error: 3 of 6 clips failed"]
    # the same answers from one process, one clip per batch or all in one batch
    for args in (["--jobs", 0], ["--jobs", 0, "--batch-size", 8]):
        _, again, _ = infer(tiny_model, mixed, "--device", "cpu", *args)
        for a, b in zip(records, again):
            assert a.keys() == b.keys() and a.get("error") == b.get("error")
            if "probabilities" in a:
                assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)


def test_output_csv_has_a_column_per_probability_and_head(tiny_model, mixed, tmp_path):
    code, stdout, stderr = infer(tiny_model, mixed, "--output", tmp_path / "out" / "x.csv", "--device", "cpu")
    assert code == 1 and stdout == [] and stderr[-1] == "error: 3 of 6 clips failed"
    with open(tmp_path / "out" / "x.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["file", "emotion", *(f"prob_{c}" for c in LABELS), "gender", "gender_prob_F",
                             "gender_prob_M", "windows", "silent_windows", "warning", "error"]
    assert len(rows) == 6 and [bool(r["error"]) for r in rows] == [False, False, True, True, True, False]
    for r in rows:
        if not r["error"]:
            assert r["emotion"] in LABELS and sum(float(r[f"prob_{c}"]) for c in LABELS) == pytest.approx(1.0)
        else:
            assert r["emotion"] == "" and r["prob_sad"] == ""
    code, _, _ = infer(tiny_model, mixed / "c.ogg", "-o", tmp_path / "y.jsonl", "--device", "cpu")
    assert code == 0 and is_answer(strict((tmp_path / "y.jsonl").read_text()))


def test_list_files_and_manifests_name_clips_relative_to_themselves(tiny_model, mixed, tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    rel = Path(os.path.relpath(mixed, lists))  # ../../mixed0
    listed = [rel / "a_stereo44k.wav", "", mixed / "c.ogg", rel / "sub", "none.wav"]
    (lists / "clips.txt").write_text("# clips\n" + "".join(f"{p}\n" for p in listed))
    code, records, stderr = infer(tiny_model, f"@{lists / 'clips.txt'}", "--device", "cpu")
    assert code == 1 and stderr == ["error: 2 of 4 clips failed"]
    assert is_answer(records[0]) and is_answer(records[1])
    assert records[2]["error"] == f"{lists / rel / 'sub'} is a directory, not an audio file"
    assert records[3] == {"file": str(lists / "none.wav"), "error": f"audio file not found: {lists / 'none.wav'}"}

    (tmp_path / "m.jsonl").write_text(
        json.dumps({"id": "x/1", "audio": str(mixed / "c.ogg"), "speaker": "x/s1"}) + "\n"
        + "{not json\n" + json.dumps({"id": "x/2"}) + "\n")
    code, records, _ = infer(tiny_model, tmp_path / "m.jsonl", "--device", "cpu")
    assert code == 1 and records[0]["id"] == "x/1" and is_answer(records[0])
    assert records[1]["error"].startswith("manifest line 2 is not JSON")
    assert records[2] == {"file": f"{tmp_path / 'm.jsonl'}:3", "error": "manifest line 3 has no 'audio' path"}


def test_bad_audio_is_an_error_record_with_its_reason(tiny_model, tmp_path):
    sf.write(tmp_path / "silent.wav", np.zeros(16000, np.float32), 16000)
    sf.write(tmp_path / "faint.flac", np.full(16000, 1e-6, np.float32), 16000)  # below one 16-bit step
    sf.write(tmp_path / "short.wav", harmonic_tone(150.0, 0.02), 16000)
    sf.write(tmp_path / "inf.wav", np.r_[harmonic_tone(150.0, 0.5), [np.inf]].astype(np.float32), 16000,
             subtype="FLOAT")
    sf.write(tmp_path / "ok.wav", harmonic_tone(150.0, 0.5), 16000)
    code, records, stderr = infer(tiny_model, tmp_path, "--device", "cpu")
    by_name = {Path(r["file"]).name: r for r in records}
    assert by_name["silent.wav"]["error"].startswith("silent: no sample louder than -90.3 dBFS")
    assert by_name["faint.flac"]["error"].startswith("silent:")
    assert by_name["short.wav"]["error"] == "too short: 0.020 s, the model needs at least 0.050 s of audio"
    assert by_name["inf.wav"]["error"] == "non-finite samples (NaN or Inf) at 0.50 s"
    assert is_answer(by_name["ok.wav"]) and code == 1 and stderr == ["error: 4 of 5 clips failed"]


def test_a_truncated_wav_is_answered_with_a_warning(tiny_model, tmp_path):
    sf.write(tmp_path / "full.wav", harmonic_tone(150.0, 1.0), 16000, subtype="PCM_16")
    data = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2])
    code, (record,), stderr = infer(tiny_model, tmp_path / "cut.wav", "--device", "cpu")
    assert code == 0 and is_answer(record)
    assert record["warning"].startswith("truncated WAV: header promises 32000 bytes of samples (1.00 s)")
    assert stderr == [f"warning: {tmp_path / 'cut.wav'}: {record['warning']}"]


def test_a_clip_longer_than_the_training_length_is_answered_from_windows(tiny_model, tmp_path):
    sf.write(tmp_path / "long.wav", harmonic_tone(150.0, 3.5, vibrato=8.0), 16000)
    code, (record,), _ = infer(tiny_model, tmp_path / "long.wav", "--device", "cpu")
    assert code == 0 and is_answer(record) and record["windows"] == 4  # 3.5 s in windows of at most 1 s


def test_a_20_minute_recording_in_sliding_segments(tiny_model, tmp_path):
    path = write_long_recording(tmp_path / "long.wav", 20 * 60, sample_rate=16000)
    code, records, _ = infer(tiny_model, path, "--segment", 4, "--hop", 2, "--batch-size", 64, "--device", "cpu")
    assert code == 0
    *segments, summary = records
    assert len(segments) == 599  # starts 0, 2, ..., 1196
    assert [(s["segment"], s["start"], s["end"]) for s in segments[:2]] == [(1, 0.0, 4.0), (2, 2.0, 6.0)]
    assert (segments[-1]["start"], segments[-1]["end"]) == (1196.0, 1200.0)
    assert all(is_answer(s) and s["windows"] == 4 for s in segments)  # 4 s segments, 1 s training length
    assert summary["segments"] == 599 and (summary["start"], summary["end"]) == (0.0, 1200.0) and is_answer(summary)
    mean = {c: np.mean([s["probabilities"][c] for s in segments]) for c in LABELS}  # equal durations
    assert summary["probabilities"] == pytest.approx(mean, abs=1e-9)


def test_split_on_silence_answers_each_spoken_part(tiny_model, tmp_path):
    path = write_long_recording(tmp_path / "talk.wav", 12.0, amplitude=0.3, pauses=(2.0, 1.0))
    code, records, _ = infer(tiny_model, path, "--split-on-silence", "--device", "cpu")
    assert code == 0
    *parts, summary = records
    assert len(parts) == 4 and summary["segments"] == 4  # tone at 0–2, 3–5, 6–8, 9–11 s
    for k, part in enumerate(parts):
        assert part["start"] == pytest.approx(3 * k, abs=0.12) and part["end"] == pytest.approx(3 * k + 2, abs=0.12)
        assert is_answer(part) and part["windows"] >= 2


def test_usage_errors_are_one_line(tiny_model, tmp_path):
    for args, message in [([], "give audio files"), (["@" + str(tmp_path / "none.txt")], "list file not found"),
                          ([tmp_path, "--hop", 1], "--hop needs --segment"),
                          ([tmp_path, "--segment", 0.01], "--segment must be at least 0.050 s")]:
        (tmp_path / "a.wav").exists() or sf.write(tmp_path / "a.wav", harmonic_tone(150.0, 0.5), 16000)
        result = CliRunner().invoke(app, ["infer", str(tiny_model), *map(str, args)])
        assert result.exit_code == 1 and result.stdout == "", (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr and result.stderr.count("\n") == 1


def test_info_prints_the_model_card(tiny_model, tmp_path):
    result = CliRunner().invoke(app, ["infer", str(tiny_model), "--info", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = {line.split("  ")[0]: line for line in result.stdout.splitlines()}
    assert "neutral, happy, angry, sad" in lines["labels"]
    assert "emotion (emotion" in lines["heads"] and "gender (gender: F, M)" in lines["heads"]
    assert "logmel features, 384 dims every 25 ms from 16000 Hz audio" in lines["input feats"]
    assert "at least 0.05 s; trained on clips cut to 1 s" in lines["clips"]
    assert "synthetic (6 utterances" in lines["trained on"] or "synthetic (8 utterances" in lines["trained on"]
    assert "custom, 1 folds" in lines["protocol"] and "fold 1" in lines["dev UA"]
    assert "not scored" in lines["test"] and "sertool 0.1.0" in lines["trained with"]
    scores = {"folds": {"1": {"ua": 0.5, "wa": 0.625}}, "mean": {"ua": 0.5, "wa": 0.625},
              "std": {"ua": 0.0, "wa": 0.0}, "split": "test", "complete": True, "protocol": "custom",
              "speaker_independent": False}
    (tiny_model / "scores.json").write_text(json.dumps(scores))
    try:
        result = CliRunner().invoke(app, ["infer", str(tiny_model), "--info", "-o", tmp_path / "card.json"])
        card = json.loads((tmp_path / "card.json").read_text())
        assert result.exit_code == 0 and card["labels"] == LABELS and card["test"]["mean"]["ua"] == 0.5
        result = CliRunner().invoke(app, ["infer", str(tiny_model), "--info"])
        assert "UA 50.0 % ± 0.0, WA 62.5 % ± 0.0 over 1 folds (test sets); fold 1: UA 50.0 %" in result.stdout
        assert "SPEAKER-DEPENDENT" in result.stdout
    finally:
        (tiny_model / "scores.json").unlink()


def test_held_out_answers_the_models_test_clips_as_naming_them_would(tiny_model, tmp_path):
    from sertool.data.folds import read_folds
    from sertool.data.manifest import read_manifest
    from sertool.train.runner import read_experiment_config

    cfg = read_experiment_config(tiny_model)
    test = read_folds(cfg.data.folds)[1][0].test  # fold 1: one test clip
    audio = {u.id: u.audio for u in read_manifest(cfg.data.sources()[0].path)}
    named = infer(tiny_model, *(audio[i] for i in test), "--device", "cpu", "--jobs", 0)
    for n in (1, 3):  # more clips than the test set has: all of them
        assert infer(tiny_model, "--held-out", n, "--device", "cpu", "--jobs", 0) == named
    assert named[0] == 0 and [r["file"] for r in named[1]] == [audio[i] for i in test]
    for args, message in [(["--held-out", 0], "--held-out needs at least 1 clip, got 0"),
                          (["--held-out", 1, tmp_path], "give no clips with it"),
                          (["--held-out", 1, "--fold", "9"], "no trained fold '9'")]:
        result = CliRunner().invoke(app, ["infer", str(tiny_model), *map(str, args)])
        assert result.exit_code == 1 and result.stdout == "", (args, result.output)
        assert message in result.stderr and result.stderr.count("\n") == 1


def test_held_out_spreads_the_clips_over_the_test_list_of_the_models_fold(tmp_path):
    from sertool.data.folds import Fold, write_folds
    from sertool.inference.sources import held_out_sources
    from sertool.testing.audio import make_corpus
    from sertool.train.config import build_config

    manifest = make_corpus(tmp_path, num_utts=9)
    ids = [f"synthetic/utt{i:04d}" for i in range(9)]
    write_folds(tmp_path / "folds.json", "custom", [Fold("a", ids[7:], [], ids[:7]), Fold("b", ids[:7], [], ids[7:])])
    cfg = build_config({"data": {"manifests": [str(manifest)], "folds": str(tmp_path / "folds.json")},
                        "tasks": {"emotion": {"type": "emotion"}}})
    names = {n: [Path(s.path).stem for s in held_out_sources(cfg, "a", n)] for n in (1, 2, 3, 4, 7)}
    assert names[2] == ["utt0000", "utt0006"] and names[3] == ["utt0000", "utt0003", "utt0006"]
    assert names[4] == ["utt0000", "utt0002", "utt0004", "utt0006"] and names[1] == ["utt0000"]
    assert len(names[7]) == 7
    assert [Path(s.path).stem for s in held_out_sources(cfg, "b", 5)] == ["utt0007", "utt0008"]
    with pytest.raises(SertoolError, match=r"the model's fold 'c' is not in .*folds.json \(folds: a, b\)"):
        held_out_sources(cfg, "c", 2)
