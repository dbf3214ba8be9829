"""Downloads against a threaded HTTP server on 127.0.0.1 (with Range support) serving archives
built here: resume, checksum mismatch, dropped connections, safe extraction, and the
download → prep path of LibriSpeech, RAVDESS, AISHELL-1 and CREMA-D."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from sertool.corpora import download as dl
from sertool.corpora.download import RemoteFile, Source, download_corpus, fetch, safe_extract
from sertool.errors import SertoolError


class _Handler(BaseHTTPRequestHandler):
    """Serves files under ``server.root``; honours ``Range`` unless ``server.ranges`` is off;
    ``server.drop_next`` cuts the next body in half (the connection closes early)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        path = srv.root / unquote(self.path.split("?", 1)[0].lstrip("/"))
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if rng and srv.ranges:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drop_next:
            srv.drop_next = False
            body = body[: len(body) // 2]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.root, httpd.log, httpd.ranges, httpd.drop_next = root, [], True, False
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(dl, "BACKOFF_S", 0.0)
    monkeypatch.delenv(dl.MIRROR_ENV, raising=False)


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _wav_bytes(tmp_path: Path, write_wav, name: str, fmt: str | None = None, sample_rate: int = 16000) -> bytes:
    return write_wav(tmp_path / "src" / name, sample_rate, fmt=fmt).read_bytes()


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# --- fetch --------------------------------------------------------------------------------------


def test_fetch_verifies_and_resumes(tmp_path, server):
    blob = bytes(range(256)) * 4000  # ~1 MB
    (server.root / "blob.bin").write_bytes(blob)
    md5 = "md5:" + hashlib.md5(blob).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    # A partial download from an earlier, interrupted run.
    dest.parent.mkdir()
    (dest.parent / "blob.bin.part").write_bytes(blob[:300_000])
    fetch(f"{server.url}/blob.bin", dest, size=len(blob), checksum=md5)
    assert dest.read_bytes() == blob and not (dest.parent / "blob.bin.part").exists()
    assert server.log == [("/blob.bin", "bytes=300000-")]
    # Complete files are not fetched again.
    fetch(f"{server.url}/blob.bin", dest, size=len(blob), checksum=md5)
    assert len(server.log) == 1


def test_fetch_retries_a_dropped_connection(tmp_path, server):
    blob = b"x" * 500_000
    (server.root / "f.bin").write_bytes(blob)
    server.drop_next = True
    dest = fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum="sha256:" + hashlib.sha256(blob).hexdigest())
    assert dest.read_bytes() == blob
    assert server.log[0][1] is None and server.log[1][1] == "bytes=250000-"


def test_fetch_restarts_without_range_support(tmp_path, server):
    blob = b"y" * 100_000
    (server.root / "f.bin").write_bytes(blob)
    server.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"garbage")
    assert fetch(f"{server.url}/f.bin", tmp_path / "f.bin", size=len(blob)).read_bytes() == blob


def test_fetch_complete_part_gets_416(tmp_path, server):
    blob = b"z" * 1000
    (server.root / "f.bin").write_bytes(blob)
    (tmp_path / "f.bin.part").write_bytes(blob)  # complete but never verified
    fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum="md5:" + hashlib.md5(blob).hexdigest())
    assert (tmp_path / "f.bin").read_bytes() == blob


def test_checksum_mismatch(tmp_path, server):
    (server.root / "f.bin").write_bytes(b"tampered")
    with pytest.raises(SertoolError, match="checksum mismatch for f.bin: expected md5 0+, got"):
        fetch(f"{server.url}/f.bin", tmp_path / "f.bin", checksum="md5:" + "0" * 32)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()
    with pytest.raises(SertoolError, match="expected 99"):
        fetch(f"{server.url}/f.bin", tmp_path / "f.bin", size=99)
    with pytest.raises(FileNotFoundError):
        fetch(f"{server.url}/nope.bin", tmp_path / "nope.bin")


# --- extraction ---------------------------------------------------------------------------------


def _evil_tar(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("good/ok.txt")
        ok.size = 2
        tf.addfile(ok, io.BytesIO(b"ok"))
        if kind in ("dotdot", "absolute"):
            info = tarfile.TarInfo("../evil.txt" if kind == "dotdot" else "/tmp/sertool-evil.txt")
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
        elif kind == "symlink":
            link = tarfile.TarInfo("good/escape")
            link.type, link.linkname = tarfile.SYMTYPE, "../../.."
            tf.addfile(link)
            info = tarfile.TarInfo("good/escape/evil.txt")
            info.size = 4
            tf.addfile(info, io.BytesIO(b"evil"))
        elif kind == "abs-symlink":
            link = tarfile.TarInfo("good/etc")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc"
            tf.addfile(link)
        elif kind == "hardlink":
            link = tarfile.TarInfo("good/passwd")
            link.type, link.linkname = tarfile.LNKTYPE, "../../etc/passwd"
            tf.addfile(link)
        elif kind == "device":
            dev = tarfile.TarInfo("good/null")
            dev.type = tarfile.CHRTYPE
            tf.addfile(dev)
    return path


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "abs-symlink", "hardlink", "device"])
def test_tar_refuses_escaping_members(tmp_path, kind):
    target = tmp_path / "a" / "b" / "target"
    with pytest.raises(SertoolError, match="refusing"):
        safe_extract(_evil_tar(tmp_path / "evil.tar.gz", kind), target)
    assert not (tmp_path / "a" / "b" / "evil.txt").exists() and not Path("/tmp/sertool-evil.txt").exists()
    assert not list(tmp_path.rglob("evil.txt"))


def test_zip_refuses_escaping_members(tmp_path):
    for name in ("../evil.txt", "/tmp/sertool-evil.txt"):
        with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
            zf.writestr("ok.txt", "ok")
            zf.writestr(zipfile.ZipInfo(name), "evil")
        with pytest.raises(SertoolError, match="refusing"):
            safe_extract(tmp_path / "evil.zip", tmp_path / "t" / "target")
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        info = zipfile.ZipInfo("escape")
        info.external_attr = (0o120777 << 16)  # a symlink entry
        zf.writestr(info, "../../outside")
    with pytest.raises(SertoolError, match="refusing link"):
        safe_extract(tmp_path / "link.zip", tmp_path / "t" / "target")
    assert not list(tmp_path.rglob("evil.txt"))


def test_safe_members_extract_with_strip(tmp_path):
    archive = _tar(tmp_path / "x.tar.gz", {"Top/a/b.txt": b"b", "Top/c.txt": b"c"})
    safe_extract(archive, tmp_path / "out", strip="Top")
    assert (tmp_path / "out" / "a" / "b.txt").read_bytes() == b"b" and (tmp_path / "out" / "c.txt").exists()


# --- corpora ------------------------------------------------------------------------------------


def test_librispeech_download_then_prep(tmp_path, server, write_wav, monkeypatch, cli):
    flac = _wav_bytes(tmp_path, write_wav, "a.flac")
    archive = _tar(server.root / "dev-clean.tar.gz", {
        "LibriSpeech/SPEAKERS.TXT": b";ID|SEX|SUBSET|MINUTES|NAME\n84 | F | dev-clean | 8.02 | C N\n"
                                    b"174 | M | dev-clean | 8.04 | P E\n",
        "LibriSpeech/dev-clean/84/121123/84-121123-0000.flac": flac,
        "LibriSpeech/dev-clean/84/121123/84-121123.trans.txt": b"84-121123-0000 GO DO YOU HEAR\n",
        "LibriSpeech/dev-clean/174/50561/174-50561-0000.flac": flac,
        "LibriSpeech/dev-clean/174/50561/174-50561.trans.txt": b"174-50561-0000 FORGOTTEN TOO\n",
    })
    source = Source("librispeech", "https://invalid.example/12",
                    (RemoteFile("dev-clean.tar.gz", archive.stat().st_size, _sha256(archive), subset="dev-clean"),),
                    strip="LibriSpeech", default_subsets=("dev-clean",))
    monkeypatch.setitem(dl.SOURCES, "librispeech", source)
    corpus = tmp_path / "corpora" / "LibriSpeech"
    # A partial archive from an interrupted run is resumed, not restarted.
    corpus.parent.mkdir()
    (corpus.parent / "dev-clean.tar.gz.part").write_bytes(archive.read_bytes()[:100])
    monkeypatch.setenv(dl.MIRROR_ENV, server.url)  # the base URL from the environment
    result = cli("prep", "librispeech", corpus, tmp_path / "out", "--download", "--subsets", "dev-clean",
                 "--protocol", "leave-one-speaker-out")
    assert result.exit_code == 0, result.output
    assert server.log == [("/dev-clean.tar.gz", "bytes=100-")]
    assert "kept 2 utterances" in result.output
    assert (corpus / "dev-clean/84/121123/84-121123-0000.flac").is_file() and (corpus / "SPEAKERS.TXT").is_file()
    # Rerun: nothing downloaded or extracted again.
    result = cli("prep", "librispeech", corpus, tmp_path / "out", "--download", "--subsets", "dev-clean",
                 "--protocol", "leave-one-speaker-out")
    assert result.exit_code == 0 and len(server.log) == 1 and "up to date" in result.output
    bad = cli("prep", "librispeech", corpus, tmp_path / "out", "--download", "--subsets", "dev-dirty")
    assert bad.exit_code == 1 and "unknown librispeech subset" in bad.output


def test_ravdess_zip_with_checksum_mismatch_then_ok(tmp_path, server, write_wav, monkeypatch, cli):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for actor in (1, 2, 3):
            for emo in ("01", "05"):
                name = f"03-01-{emo}-01-01-01-{actor:02d}.wav"
                zf.writestr(f"Actor_{actor:02d}/{name}", _wav_bytes(tmp_path, write_wav, name, sample_rate=48000))
    (server.root / "Audio_Speech_Actors_01-24.zip").write_bytes(buf.getvalue())
    good = "md5:" + hashlib.md5(buf.getvalue()).hexdigest()
    monkeypatch.setitem(dl.SOURCES, "ravdess", Source(
        "ravdess", "https://invalid.example", (RemoteFile("Audio_Speech_Actors_01-24.zip", None, "md5:" + "f" * 32),),
        strip="Audio_Speech_Actors_01-24"))
    corpus = tmp_path / "Audio_Speech_Actors_01-24"
    bad = cli("prep", "ravdess", corpus, tmp_path / "out", "--download", "--mirror", server.url, "-k", "3")
    assert bad.exit_code == 1 and "checksum mismatch" in bad.output and len(bad.raw.strip().splitlines()) == 1
    assert not list(tmp_path.glob("Audio_Speech_Actors_01-24.zip*"))
    monkeypatch.setitem(dl.SOURCES, "ravdess", Source(
        "ravdess", "https://invalid.example", (RemoteFile("Audio_Speech_Actors_01-24.zip", len(buf.getvalue()), good),),
        strip="Audio_Speech_Actors_01-24"))
    ok = cli("prep", "ravdess", corpus, tmp_path / "out", "--download", "--mirror", server.url, "-k", "3")
    assert ok.exit_code == 0, ok.output
    assert "kept 6 utterances" in ok.output and (corpus / "Actor_02" / "03-01-05-01-01-01-02.wav").is_file()


def test_aishell_nested_archives(tmp_path, server, write_wav, monkeypatch):
    wav = _wav_bytes(tmp_path, write_wav, "a.wav")
    inner = {}
    for spk in ("S0002", "S0003"):
        inner[spk] = _tar(tmp_path / f"{spk}.tar.gz", {
            f"train/{spk}/BAC009{spk}W0121.wav": wav, f"train/{spk}/BAC009{spk}W0122.wav": wav})
    data = _tar(server.root / "data_aishell.tgz", {
        "data_aishell/transcript/aishell_transcript_v0.8.txt":
            "BAC009S0002W0121 而 对 楼市\nBAC009S0002W0122 成交 抑制\nBAC009S0003W0121 作用 最 大\n"
            "BAC009S0003W0122 的 限 购\n".encode(),
        **{f"data_aishell/wav/{spk}.tar.gz": p.read_bytes() for spk, p in inner.items()},
    })
    resource = _tar(server.root / "resource_aishell.tgz", {"resource_aishell/speaker.info": b"0002 F\n0003 M\n"})
    monkeypatch.setitem(dl.SOURCES, "aishell", Source(
        "aishell", "https://invalid.example/33",
        (RemoteFile("data_aishell.tgz", None, _sha256(data)),
         RemoteFile("resource_aishell.tgz", None, _sha256(resource))),
        nested="data_aishell/wav/*.tar.gz"))
    corpus = tmp_path / "corpora" / "aishell"
    assert download_corpus("aishell", corpus, archive_dir=tmp_path / "archives", mirror=server.url) == []
    assert (corpus / "data_aishell/wav/train/S0003/BAC009S0003W0122.wav").is_file()
    assert not list((corpus / "data_aishell/wav").glob("*.tar.gz"))
    assert (tmp_path / "archives" / "data_aishell.tgz").is_file()

    from sertool.corpora.aishell import prepare_aishell

    report = prepare_aishell(corpus, tmp_path / "out", protocol="leave-one-speaker-out")
    assert report.kept == 4 and report.skipped == {}


def test_crema_d_listing(tmp_path, server, write_wav, cli):
    (server.root / "processedResults").mkdir()
    names = [f"{a}_{s}_{e}_XX" for a in (1001, 1002, 1003) for s, e in (("DFA", "ANG"), ("ITS", "NEU"))]
    (server.root / "processedResults" / "summaryTable.csv").write_text(
        ",FileName,VoiceVote,VoiceLevel\n"
        + "".join(f"{i},{n},A,2\n" for i, n in enumerate(names + ["1003_IEO_SAD_XX"])))
    (server.root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1002,21,Female,C,N\n1003,21,Female,C,N\n")
    for n in names:  # 1003_IEO_SAD_XX is listed but not served, as on the real server
        write_wav(server.root / "AudioWAV" / f"{n}.wav", 16000)
    corpus = tmp_path / "CREMA-D"
    result = cli("prep", "crema-d", corpus, tmp_path / "out", "--download", "--mirror", server.url, "-k", "3")
    assert result.exit_code == 0, result.output
    assert "1 of 7 files listed in processedResults/summaryTable.csv are not on the server" in result.output
    assert "kept 6 utterances" in result.output and (corpus / "VideoDemographics.csv").is_file()


def test_licensed_corpora_refused(tmp_path, cli):
    for corpus, hint in (("iemocap", "sail.usc.edu"), ("casia", "chineseldc"), ("esd", "HLTSingapore")):
        with pytest.raises(SertoolError, match=hint):
            download_corpus(corpus, tmp_path / corpus)
        result = cli("prep", corpus, tmp_path / corpus, tmp_path / "out", "--download")
        assert result.exit_code == 1 and hint in result.output
        assert len(result.raw.strip().splitlines()) == 1


def test_official_table():
    """Every checksum in the table is well-formed; unknown ones are None, never invented."""
    for source in dl.SOURCES.values():
        assert source.base.startswith("https://")
        for f in source.files:
            if f.checksum is not None:
                algorithm, _, digest = f.checksum.partition(":")
                assert len(digest) == {"md5": 32, "sha256": 64}[algorithm] and re.fullmatch("[0-9a-f]+", digest)
    assert dl.SOURCES["ravdess"].files[0].size == 208468073
