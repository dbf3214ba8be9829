"""The manifest contract: validation catches each kind of bad field; write/read round-trips."""

from pathlib import Path

import pytest

from sertool.data.manifest import Utterance, read_manifest, validate_utterance, write_manifest
from sertool.errors import SertoolError


def make_utt(**kw) -> Utterance:
    base = {"id": "demo/a1", "corpus": "demo", "audio": "/abs/a1.wav", "duration": 1.5, "sample_rate": 16000,
                "speaker": "demo/s1", "gender": "F", "language": "en", "session": None, "style": "acted",
                "text": "hello", "phones": ["HH", "AH0", "L", "OW1"], "emotion": "angry", "emotion_raw": "ANG",
                "intensity": "high", "esc": "anger", "eis": 3.5}
    base.update(kw)
    return Utterance(**base)


def test_valid_utterance_has_no_problems():
    assert validate_utterance(make_utt()) == []


@pytest.mark.parametrize("field,value,fragment", [
    ("id", "a1", "id must be"),
    ("audio", "rel/a1.wav", "absolute"),
    ("duration", 0.0, "duration"),
    ("speaker", "s1", "speaker"),
    ("gender", "female", "gender"),
    ("emotion", "furious", "not canonical"),
    ("esc", "rage", "SEQM"),
    ("eis", 5.0, "eis"),
    ("style", "studio", "style"),
    ("split", "validation", "split"),
])
def test_each_bad_field_is_reported(field, value, fragment):
    problems = validate_utterance(make_utt(**{field: value}))
    assert any(fragment in p for p in problems), problems


def test_eis_must_be_ignored_without_esc():
    assert any("esc is null" in p for p in validate_utterance(make_utt(esc=None, eis=2.0)))


def test_round_trip_keeps_every_field_and_extra(tmp_path: Path):
    utts = [make_utt(), make_utt(id="demo/a2", extra={"channel": "telephone"}, vad=[2.5, 3.0, 3.5])]
    write_manifest(tmp_path / "m.jsonl", utts)
    back = read_manifest(tmp_path / "m.jsonl")
    assert [u.to_dict() for u in back] == [u.to_dict() for u in utts]


def test_duplicate_ids_and_malformed_lines_are_refused(tmp_path: Path):
    with pytest.raises(SertoolError, match="duplicate"):
        write_manifest(tmp_path / "m.jsonl", [make_utt(), make_utt()])
    (tmp_path / "bad.jsonl").write_text('{"id": "demo/x"\n')
    with pytest.raises(SertoolError, match="bad.jsonl:1"):
        read_manifest(tmp_path / "bad.jsonl")
    with pytest.raises(SertoolError, match="not found"):
        read_manifest(tmp_path / "missing.jsonl")
