"""What the preparers share: strict decoding of label tables, audio probing (truncated WAVs, directories)."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from sertool.corpora.scan import TRUNCATED, probe_audio, read_table_text
from sertool.errors import SertoolError

TABLE = "path,emotion,speaker\r\nspk1/a.wav,colère,Élise\r\nspk1/b.wav,joie,Élise\r\n"


@pytest.mark.parametrize("bom,encoding", [
    (b"", "utf-8"), (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"), (codecs.BOM_UTF32_LE, "utf-32-le"),
])
def test_utf8_and_byte_order_marks_decode(tmp_path, bom, encoding):
    path = tmp_path / "labels.csv"
    path.write_bytes(bom + TABLE.encode(encoding))
    assert read_table_text(path) == TABLE  # no byte-order mark left in the first column's name


def test_undecodable_byte_names_line_and_column(tmp_path):
    rows = ["path,emotion,intensity,speaker"] + [f"call{i:03d}.wav,angry,3,a0" for i in range(15)]
    rows.append("call015.wav,colère,3,a0")  # line 17; "è" at column 16
    path = tmp_path / "calls.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode("cp1252"))
    with pytest.raises(SertoolError) as e:
        read_table_text(path)
    assert str(e.value) == ("calls.csv line 17 is not valid UTF-8 (byte 0xe8 at column 16); "
                            "name the file's encoding with --encoding")
    assert read_table_text(path, encoding="cp1252").splitlines()[16] == "call015.wav,colère,3,a0"


def test_columns_count_characters_and_crlf_lines(tmp_path):
    """Multi-byte characters before the bad byte are one column each; CRLF is one line break."""
    path = tmp_path / "labels.csv"
    path.write_bytes("path,emotion\r\n语料/a.wav,".encode() + b"\xff" + b"x\r\n")
    with pytest.raises(SertoolError, match=r"labels.csv line 2 is not valid UTF-8 \(byte 0xff at column 10\)"):
        read_table_text(path)
    path.write_bytes(codecs.BOM_UTF8 + b"pa\xffth,emotion\n")
    with pytest.raises(SertoolError, match=r"line 1 is not valid UTF-8 \(byte 0xff at column 3\)"):
        read_table_text(path)


def test_utf16_without_its_mark_and_bad_names(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes(TABLE.encode("utf-16-le"))  # no byte-order mark: NULs between the letters
    with pytest.raises(SertoolError, match="line 1 holds NUL bytes .UTF-16 without a byte-order mark"):
        read_table_text(path)
    assert read_table_text(path, encoding="utf-16-le") == TABLE
    with pytest.raises(SertoolError, match="unknown encoding 'klingon'"):
        read_table_text(path, encoding="klingon")
    with pytest.raises(SertoolError, match="'base64' is not a text encoding"):
        read_table_text(path, encoding="base64")
    with pytest.raises(SertoolError, match="is a directory, not a label file"):
        read_table_text(tmp_path)


def test_probe_reports_truncated_wavs_and_directories(tmp_path, write_wav):
    whole = write_wav(tmp_path / "whole.wav", 16000, seconds=0.5)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole.read_bytes()[:-4000])  # libsndfile would report 0.375 s without a word
    (tmp_path / "folder.wav").mkdir()
    ok, truncated, folder = probe_audio([whole, cut, tmp_path / "folder.wav"])
    assert ok == (pytest.approx(0.5), 16000)
    assert truncated == TRUNCATED == "truncated audio file (header promises more samples than the file holds)"
    assert folder == "a directory, not an audio file"


def test_probe_of_a_cut_file_in_parallel_workers(tmp_path, write_wav):
    """The check runs in the process pool too (large corpora)."""
    whole = write_wav(tmp_path / "whole.wav", 8000, seconds=0.1)
    cut = Path(tmp_path / "cut.wav")
    cut.write_bytes(whole.read_bytes()[:-100])
    infos = probe_audio([whole, cut] * 3, jobs=2, min_parallel=2)
    assert infos[1::2] == [TRUNCATED] * 3 and all(isinstance(i, tuple) for i in infos[::2])
