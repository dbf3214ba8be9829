"""Downloads against a threaded HTTP server on 127.0.0.1 (with Range support) serving archives
built here: resume, checksum mismatch, dropped connections, safe extraction, and the
download → prep path of LibriSpeech, RAVDESS, AISHELL-1 and CREMA-D; then a hostile or broken
mirror: names that escape, links in archives, bombs, trickling and oversized transfers, error pages."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import threading
import time
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from sertool.corpora import download as dl
from sertool.corpora.download import RemoteFile, Source, download_corpus, fetch, safe_extract
from sertool.errors import SertoolError


class _Handler(BaseHTTPRequestHandler):
    """Serves files under ``server.root``; honours ``Range`` unless ``server.ranges`` is off (and
    says so with ``Accept-Ranges`` if ``server.accept_ranges``); ``server.drop_next`` cuts the next
    body in half (the connection closes early). ``server.special[path]`` answers that path instead;
    ``server.fallback`` is served for any other unknown path."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        srv = self.server
        path = srv.root / unquote(self.path.split("?", 1)[0].lstrip("/"))
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        if self.path in srv.special:
            srv.special[self.path](self)
            return
        if not path.is_file() and srv.fallback is None:
            self.send_error(404)
            return
        data = path.read_bytes() if path.is_file() else srv.fallback
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
        if srv.accept_ranges:
            self.send_header("Accept-Ranges", "bytes")
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
    httpd.accept_ranges, httpd.special, httpd.fallback = False, {}, None
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


def _crema_tree(root: Path, write_wav, served: list[str], listed: list[str]) -> None:
    """CREMA-D as its server has it: the two CSVs, ``listed`` in the listing, a clip for each of ``served``."""
    (root / "processedResults").mkdir(exist_ok=True)
    (root / "processedResults" / "summaryTable.csv").write_text(
        ",FileName,VoiceVote,VoiceLevel\n" + "".join(f"{i},{n},A,2\n" for i, n in enumerate(listed)))
    (root / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1002,21,Female,C,N\n1003,21,Female,C,N\n")
    for n in served:
        write_wav(root / "AudioWAV" / f"{n}.wav", 16000)


def test_crema_d_listing(tmp_path, server, write_wav, cli):
    names = [f"{a}_{s}_{e}_XX" for a in (1001, 1002, 1003) for s, e in (("DFA", "ANG"), ("ITS", "NEU"))]
    # 1003_IEO_SAD_XX is listed but not served, as on the real server
    _crema_tree(server.root, write_wav, names, names + ["1003_IEO_SAD_XX"])
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


# --- a hostile or broken mirror -------------------------------------------------------------------


def _outside(tmp_path: Path, *inside: Path) -> list[Path]:
    """Files under ``tmp_path`` outside the server root and the ``inside`` folders."""
    allowed = (tmp_path / "www", *inside)
    return [p for p in tmp_path.rglob("*") if p.is_file() and not any(p.is_relative_to(a) for a in allowed)]


def test_crema_d_traversal_in_listing_refused_by_cli(tmp_path, server, write_wav, cli):
    """A FileName that climbs out of the corpus: one error line, nothing written outside."""
    good = ["1001_DFA_ANG_XX"]
    _crema_tree(server.root, write_wav, good, good + ["../../../../victim/x"])
    server.fallback = (server.root / "AudioWAV" / "1001_DFA_ANG_XX.wav").read_bytes()  # whatever is asked for
    corpus = tmp_path / "a" / "b" / "CREMA-D"
    result = cli("prep", "crema-d", corpus, tmp_path / "out", "--download", "--mirror", server.url)
    assert not (tmp_path / "victim").exists() and _outside(tmp_path, corpus) == []
    assert result.exit_code == 1 and len(result.raw.strip().splitlines()) == 1, result.raw
    assert "refusing FileName '../../../../victim/x' on line 3" in result.output
    # The listing is not kept under its name: a rerun fetches it again.
    assert not (corpus / "processedResults" / "summaryTable.csv").exists()
    assert not any("victim" in path for path, _ in server.log)


@pytest.mark.parametrize("name", [
    "1001_DFA_ANG_XX/../../../x", "/etc/passwd", "0999_DFA_ANG_XX", "1092_DFA_ANG_XX", "1001_XYZ_ANG_XX",
    "1001_DFA_JOY_XX", "1001_DFA_ANG_ZZ", "1001_DFA_ANG_XX?x=1", "\u0661\u0660\u0660\u0661_DFA_ANG_XX",
])
def test_crema_d_listing_names_must_follow_the_scheme(tmp_path, server, write_wav, name):
    _crema_tree(server.root, write_wav, [], ["1001_DFA_ANG_XX", name])
    with pytest.raises(SertoolError, match="refusing FileName .* not a CREMA-D file name like 1001_DFA_ANG_XX"):
        download_corpus("crema-d", tmp_path / "CREMA-D", mirror=server.url)
    assert not (tmp_path / "CREMA-D" / "AudioWAV").exists()


def test_crema_d_clips_are_format_checked(tmp_path, server, write_wav):
    """An error page with status 200 and a truncated clip never stay under a final name; a rerun
    fetches them again, and a bad clip an earlier run left under its final name too."""
    names = ["1001_DFA_ANG_XX", "1002_DFA_ANG_XX", "1003_DFA_ANG_XX"]
    _crema_tree(server.root, write_wav, names, names)
    clips = {n: server.root / "AudioWAV" / f"{n}.wav" for n in names}
    good = {n: p.read_bytes() for n, p in clips.items()}
    clips[names[0]].write_bytes(b"<html><body>429 Too Many Requests</body></html>")
    clips[names[1]].write_bytes(good[names[1]][:-100])  # served whole, with its own Content-Length
    corpus = tmp_path / "CREMA-D"
    (corpus / "AudioWAV").mkdir(parents=True)
    (corpus / "AudioWAV" / f"{names[2]}.wav").write_bytes(b"<html>")  # kept by an older version
    for _run in range(2):  # the second time, the same bad clips are fetched again
        notes = download_corpus("crema-d", corpus, mirror=server.url)
        assert notes == ["2 of 3 files failed verification and were not kept; run again to fetch them again "
                         f"(e.g. {names[0]}.wav: not a RIFF/WAVE file (an error page?))"]
        assert sorted(p.name for p in (corpus / "AudioWAV").iterdir()) == [f"{names[2]}.wav"]
    with pytest.raises(SertoolError,
                       match=rf"{names[1]}.wav: the RIFF header says .* \(truncated\?\) \(download removed"):
        fetch(f"{server.url}/AudioWAV/{names[1]}.wav", corpus / "AudioWAV" / f"{names[1]}.wav")
    for n in names[:2]:  # the mirror recovers
        clips[n].write_bytes(good[n])
    assert download_corpus("crema-d", corpus, mirror=server.url) == []
    assert {p.name: p.read_bytes() for p in (corpus / "AudioWAV").iterdir()} == {f"{n}.wav": good[n] for n in names}
    assert [path for path, _ in server.log].count(f"/AudioWAV/{names[0]}.wav") == 3


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zip_symlink_chain_refused(tmp_path):
    """Symlink entries that resolve inside lexically but chain outside, then a file written through them."""
    with zipfile.ZipFile(tmp_path / "chain.zip", "w") as zf:
        for name, link in (("a", "."), ("esc", "a/a/../victim.txt")):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, link)
        zf.writestr("esc", "evil")
    target = tmp_path / "t" / "target"
    with pytest.raises(SertoolError, match="refusing link member"):
        safe_extract(tmp_path / "chain.zip", target)
    assert not (tmp_path / "t" / "victim.txt").exists() and not any(p.is_symlink() for p in target.rglob("*"))


def test_tar_cve_2025_4517_refused(tmp_path):
    """The symlink chain whose expansion overflows PATH_MAX, so realpath (and tarfile's data filter
    before its fix) stops checking: a hard link through it then overwrites a file outside."""
    outer = tmp_path / "outer"
    target = outer / "dest"
    target.mkdir(parents=True)
    (outer / "flag").write_text("original")
    steps = "abcdefghijklmnop"
    component = "d" * ((os.pathconf(outer, "PC_PATH_MAX") - len(str(target)) - 1) // (len(steps) + 1))

    def add(tf: tarfile.TarFile, name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.size = kind, link, len(data)
        tf.addfile(info, io.BytesIO(data))

    with tarfile.open(tmp_path / "cve.tar", "w") as tf:
        path = ""
        for step in steps:
            add(tf, os.path.join(path, component), tarfile.DIRTYPE)
            add(tf, os.path.join(path, step), tarfile.SYMTYPE, component)
            path = os.path.join(path, component)
        long_link = os.path.join(*steps, "l" * 254)
        add(tf, long_link, tarfile.SYMTYPE, os.path.join(*[".."] * len(steps)))
        add(tf, "escape", tarfile.SYMTYPE, os.path.join(long_link, ".."))
        add(tf, "flaglink", tarfile.LNKTYPE, "escape/flag")
        add(tf, "flaglink", data=b"overwrite")
        add(tf, "escape/newfile", data=b"new")
    with pytest.raises(SertoolError, match="refusing link member"):
        safe_extract(tmp_path / "cve.tar", target)
    assert (outer / "flag").read_text() == "original" and not (outer / "newfile").exists()


@pytest.mark.parametrize("fmt", ["tar", "zip"])
def test_extraction_never_writes_through_links_in_the_target(tmp_path, fmt):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "sym.txt").write_text("untouched")
    (outside / "hard.txt").write_text("untouched")
    target = tmp_path / "target"
    target.mkdir()
    (target / "dir").symlink_to(outside)
    (target / "sym.txt").symlink_to(outside / "sym.txt")
    os.link(outside / "hard.txt", target / "hard.txt")  # e.g. a copy made with cp -l

    def archive(name: str) -> Path:
        if fmt == "tar":
            return _tar(tmp_path / "x.tar.gz", {name: b"new"})
        with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
            zf.writestr(name, "new")
        return tmp_path / "x.zip"

    for name in ("dir/new.txt", "sym.txt"):
        with pytest.raises(SertoolError, match="refusing"):
            safe_extract(archive(name), target)
    safe_extract(archive("hard.txt"), target)  # replaced: the other name keeps its content
    assert (target / "hard.txt").read_text() == "new"
    assert {p.name: p.read_text() for p in outside.iterdir()} == {"sym.txt": "untouched", "hard.txt": "untouched"}


def test_tar_needs_the_data_filter(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter")
    with pytest.raises(SertoolError, match=r"needs tarfile's 'data' filter: Python >= 3.10.12, >= 3.11.4"):
        safe_extract(_tar(tmp_path / "x.tar.gz", {"a.txt": b"a"}), tmp_path / "out")
    assert not (tmp_path / "out" / "a.txt").exists()


def _close_delimited(body: bytes):
    """A handler that sends ``body`` without Content-Length: its end is the connection closing."""
    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(body)
    return answer


def test_unpinned_download_stops_at_the_cap(tmp_path, server):
    blob = os.urandom(300_000)
    (server.root / "big.bin").write_bytes(blob)
    server.special["/stream.bin"] = _close_delimited(blob)
    with pytest.raises(SertoolError, match="announces 300.0 kB, over the 100.0 kB cap"):
        fetch(f"{server.url}/big.bin", tmp_path / "big.bin", max_bytes=100_000)
    with pytest.raises(SertoolError, match="sent more than 100.0 kB, the cap"):
        fetch(f"{server.url}/stream.bin", tmp_path / "stream.bin", max_bytes=100_000)
    with pytest.raises(SertoolError, match="sent more than 1.0 kB$"):  # a pinned size caps too
        fetch(f"{server.url}/stream.bin", tmp_path / "pinned.bin", size=1000)
    assert list(tmp_path.glob("*.bin*")) == []


def test_no_download_without_free_space(tmp_path, server, monkeypatch):
    (server.root / "f.bin").write_bytes(b"x" * 5000)
    monkeypatch.setattr(dl.shutil, "disk_usage", lambda path: types.SimpleNamespace(free=1000))
    for size in (5000, None):  # pinned, then announced by the server
        with pytest.raises(SertoolError, match=r"not enough free space for f.bin: 5.0 kB needed, 1.0 kB free in"):
            fetch(f"{server.url}/f.bin", tmp_path / "f.bin", size=size)
    assert list(tmp_path.glob("f.bin*")) == []


def test_extraction_caps(tmp_path, monkeypatch):
    """A bomb (2 MB of zeros in a few kB) is refused by the ratio cap, incompressible data by the size cap."""
    monkeypatch.setattr(dl, "RATIO_FLOOR_BYTES", 1_000_000)
    bomb = _tar(tmp_path / "bomb.tar.gz", {"ok.txt": b"ok", "zeros.bin": bytes(2_000_000)})
    with pytest.raises(SertoolError, match=r"refusing to expand a .* archive more than 200 times .*: zeros.bin"):
        safe_extract(bomb, tmp_path / "out", max_ratio=200)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok.txt"]  # no partial member left
    with zipfile.ZipFile(tmp_path / "big.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("noise.bin", os.urandom(300_000))
    with pytest.raises(SertoolError, match=r"refusing to write more than 100.0 kB \(the extraction cap\)"):
        safe_extract(tmp_path / "big.zip", tmp_path / "out2", max_bytes=100_000)
    safe_extract(tmp_path / "big.zip", tmp_path / "out3")  # the defaults let ordinary archives through


def test_trickling_server_hits_the_deadline(tmp_path, server):
    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "10000")
        handler.end_headers()
        try:
            for _ in range(100):  # at most ~5 s, stopping as soon as the client hangs up
                handler.wfile.write(b"x" * 10)
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass

    server.special["/slow.bin"] = trickle
    start = time.monotonic()
    with pytest.raises(SertoolError, match=r"did not finish within 0.5 s \(server too slow\?\)$"):
        fetch(f"{server.url}/slow.bin", tmp_path / "slow.bin", timeout=5.0, deadline=0.5)
    assert time.monotonic() - start < 3.0
    assert list(tmp_path.glob("slow.bin*")) == []  # the server cannot resume: nothing worth keeping


@pytest.mark.parametrize("accept_ranges", [False, True])
def test_failed_transfer_keeps_a_part_only_if_resumable(tmp_path, server, accept_ranges):
    blob = os.urandom(200_000)

    def drop(handler: BaseHTTPRequestHandler) -> None:  # always closes halfway through
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(blob)))
        if accept_ranges:
            handler.send_header("Accept-Ranges", "bytes")
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(blob[: len(blob) // 2])

    server.special["/f.bin"] = drop
    with pytest.raises(SertoolError, match="failed after 2 attempts: connection closed after 100000 of 200000 bytes"):
        fetch(f"{server.url}/f.bin", tmp_path / "f.bin", retries=1)
    assert (tmp_path / "f.bin.part").exists() == accept_ranges and not (tmp_path / "f.bin").exists()


def test_archive_under_final_name_is_verified(tmp_path, server, monkeypatch):
    """An archive an earlier run left under its final name is checked (checksum where pinned, else
    that it reads as an archive) and fetched again when wrong."""
    archive = _tar(server.root / "dev-clean.tar.gz", {"LibriSpeech/dev-clean/a.txt": b"a"})
    for checksum in (None, _sha256(archive)):
        monkeypatch.setitem(dl.SOURCES, "librispeech", Source(
            "librispeech", "https://invalid.example/12", (RemoteFile("dev-clean.tar.gz", None, checksum, "dev-clean"),),
            strip="LibriSpeech", default_subsets=("dev-clean",)))
        (tmp_path / "dev-clean.tar.gz").write_bytes(b"<html>Not Found</html>")
        assert download_corpus("librispeech", tmp_path / "LibriSpeech", mirror=server.url) == []
        assert (tmp_path / "dev-clean.tar.gz").read_bytes() == archive.read_bytes()
        assert (tmp_path / "LibriSpeech" / "dev-clean" / "a.txt").read_bytes() == b"a"
    assert len(server.log) == 2


def _redirect_loop(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


@pytest.mark.parametrize("case", ["redirect-loop", "http-500", "error-page", "truncated-gzip", "truncated-pinned",
                                  "bad-listing"])
def test_every_failure_is_one_line(tmp_path, server, monkeypatch, cli, case):
    corpus = "crema-d" if case == "bad-listing" else "librispeech"
    members = {f"LibriSpeech/dev-clean/{i}.bin": os.urandom(5000) for i in range(20)}
    served, checksum = _tar(server.root / "dev-clean.tar.gz", members).read_bytes(), None
    if case == "redirect-loop":
        server.special["/dev-clean.tar.gz"] = _redirect_loop
    elif case == "http-500":
        server.special["/dev-clean.tar.gz"] = lambda handler: handler.send_error(500, "Internal \x1b[31mError")
    elif case == "error-page":
        served = b"<!DOCTYPE html><html><body>Please log in</body></html>"
    elif case.startswith("truncated"):
        served = served[: len(served) // 2]
        checksum = "sha256:" + hashlib.sha256(served).hexdigest() if case == "truncated-pinned" else None
    else:
        (server.root / "processedResults").mkdir()
        (server.root / "processedResults" / "summaryTable.csv").write_bytes(b"\xff\xfe,F\x00i\x00l\x00e\x00")
        (server.root / "VideoDemographics.csv").write_text("ActorID,Sex\n1001,Male\n")
    (server.root / "dev-clean.tar.gz").write_bytes(served)
    monkeypatch.setitem(dl.SOURCES, "librispeech", Source(
        "librispeech", "https://invalid.example/12", (RemoteFile("dev-clean.tar.gz", None, checksum, "dev-clean"),),
        strip="LibriSpeech", default_subsets=("dev-clean",)))
    subsets = ["--subsets", "dev-clean"] if corpus == "librispeech" else []
    result = cli("prep", corpus, tmp_path / "corpus", tmp_path / "out", "--download", "--mirror", server.url, *subsets)
    assert result.exit_code == 1 and result.raw.startswith("error: "), result.raw
    assert len(result.raw.strip().splitlines()) == 1 and "\x1b" not in result.raw, result.raw
    expected = {"redirect-loop": "HTTP 302", "http-500": "HTTP 500 Internal ?[31mError",
                "error-page": "not a readable archive", "truncated-gzip": "not a readable archive",
                "truncated-pinned": "cannot extract dev-clean.tar.gz", "bad-listing": "not a UTF-8 CSV table"}[case]
    assert expected in result.output, result.output
    if case in ("error-page", "truncated-gzip"):  # never kept under the final name
        assert not list(tmp_path.glob("dev-clean.tar.gz*"))
