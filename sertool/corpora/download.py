"""Fetching the corpora one may download directly: RAVDESS, CREMA-D, LibriSpeech, AISHELL-1.

The server is not trusted: a mirror may be broken or hostile. Whatever it sends, a download keeps
these guarantees.

Files
    A download resumes (HTTP ``Range``) from ``<name>.part`` and is renamed to its final name only
    once verified: against the size and checksum pinned in :data:`SOURCES`; where no checksum is
    pinned, against the size the server announces and a format check of the bytes (a zip whose
    directory reads or a tar whose members all read to the end; a RIFF/WAVE file whose chunk sizes
    match its length and that soundfile opens; a CSV table, and for CREMA-D's listing only valid
    file names). A file already under its final name is verified the same way before it is
    trusted, and fetched again if it fails, so an HTML error page served with status 200 or a
    truncated body never stays under a final name.

Limits
    A file whose size is not pinned stops at :data:`MAX_DOWNLOAD_BYTES` (CREMA-D's CSVs and clips,
    each under 1 MB, at :data:`MAX_LOOSE_BYTES`). A download does not start without the free space
    for the size pinned or announced. One file, all attempts together, has :func:`deadline_s`
    seconds (:data:`DEADLINE_BASE_S` plus its size at :data:`MIN_RATE` bytes/s), so a server
    trickling bytes under the per-read socket timeout (:data:`TIMEOUT_S`) still fails. After a
    failure the ``.part`` is kept only where resuming it is possible (a pinned size or checksum, or
    a server that answered with ``Accept-Ranges: bytes`` or 206); otherwise it is removed.

Paths
    Every name that comes from the server (CREMA-D's ``FileName`` column) must match the corpus's
    naming scheme (``1001_DFA_ANG_XX``), and every destination must resolve inside its directory.

Extraction
    Absolute paths, ``..`` leading out, links (symbolic or hard; the corpora have none) and device
    files are refused, in tar and zip alike. Nothing is written through a link already in the
    target: every component of a destination is checked not to be a symlink, a file already there
    is replaced rather than overwritten (a hard link elsewhere keeps its content) and opened with
    ``O_NOFOLLOW | O_EXCL``. Tar members also pass tarfile's ``data`` filter, which needs Python
    >= 3.10.12 / 3.11.4; refusing every link is what stops the filter's own escapes
    (CVE-2025-4517). Extraction stops past :data:`MAX_EXTRACT_BYTES` written, or once the output
    exceeds both :data:`RATIO_FLOOR_BYTES` and :data:`MAX_RATIO` times the archive's size: FLAC and
    WAV archives expand by less than 2x, while a 1 MB archive expanding to 1 GB is refused after
    200 MB.

Errors
    Every failure (HTTP errors, redirect loops, a slow or oversized transfer, a damaged archive, a
    bad listing) is one :class:`SertoolError` line naming the file, never a traceback. Only a
    CREMA-D clip that fails its format check is a note instead (one of thousands; it is not kept,
    and the next run fetches it again).

The limits are module attributes read at call time; :func:`fetch` and :func:`safe_extract` also
take them as arguments.

The base URL of every source can be replaced (``--mirror`` or the ``SERTOOL_DOWNLOAD_BASE``
environment variable): files are then fetched from ``<mirror>/<name>``, e.g. an OpenSLR mirror,
a lab server, or a test server on 127.0.0.1.

IEMOCAP, CASIA and ESD are licensed on request; :func:`download_corpus` says where to ask.

Example::

    download_corpus("librispeech", Path("corpora/LibriSpeech"), subsets=["dev-clean"])
    # []
    safe_extract(Path("x.tar.gz"), Path("out"))  # raises on "../../etc/passwd"
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, NoReturn
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from sertool.corpora.crema_d import is_release_name
from sertool.errors import SertoolError

MIRROR_ENV = "SERTOOL_DOWNLOAD_BASE"
CHUNK = 1 << 20
RETRIES = 3
TIMEOUT_S = 60.0  # connecting, and each read
BACKOFF_S = 1.0  # first pause before a retry; doubles each time, at most 10 s

MAX_DOWNLOAD_BYTES = 50 * 10**9  # a file of unpinned size (LibriSpeech's largest archive: 30 GB)
MAX_LOOSE_BYTES = 64 * 2**20  # CREMA-D's CSVs and clips, read whole into memory or probed one by one
DEADLINE_BASE_S = 30 * 60.0  # every file's time allowance starts with this ...
MIN_RATE = 100_000  # ... plus its size at this many bytes/s, the slowest transfer accepted
MAX_EXTRACT_BYTES = 200 * 10**9  # written by one archive in all
MAX_RATIO = 200.0  # written / archive size, checked once past RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 100 * 10**6

FormatCheck = Callable[[Path], str | None]  # what is wrong with a file, None when nothing


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source.

    ``name`` is its path under the source's base URL and under the local directory it goes to;
    ``checksum`` is ``"md5:<hex>"`` or ``"sha256:<hex>"``, None where no published value is known
    (then the size the server announces and a format check are what is verified).
    """

    name: str
    size: int | None = None
    checksum: str | None = None
    subset: str | None = None  # LibriSpeech: the subset this archive holds
    base: str | None = None  # a base URL other than the source's (CREMA-D's CSVs)


@dataclass(frozen=True)
class Source:
    """Where a corpus comes from and how its archives unpack into the corpus directory."""

    corpus: str
    base: str
    files: tuple[RemoteFile, ...]
    strip: str | None = None  # leading folder of archive members dropped when extracting
    default_subsets: tuple[str, ...] = ()
    nested: str | None = None  # archives inside the corpus directory to extract in place, then delete
    listing: str | None = None  # CSV (already in `files`) whose FileName column lists AudioWAV files


_OPENSLR_LIBRISPEECH = "https://www.openslr.org/resources/12"
_CREMA_MEDIA = "https://media.githubusercontent.com/media/CheyneyComputerScience/CREMA-D/master"
_CREMA_RAW = "https://raw.githubusercontent.com/CheyneyComputerScience/CREMA-D/master"

# The one table of official locations. Checksums are the published ones: RAVDESS's MD5 from its
# Zenodo record, LibriSpeech's SHA-256 as torchaudio pins them, AISHELL-1's MD5 from OpenSLR.
# CREMA-D's files carry no published checksum (Git LFS serves them one by one): size only.
SOURCES: dict[str, Source] = {
    "ravdess": Source(
        "ravdess",
        "https://zenodo.org/records/1188976/files",
        (RemoteFile("Audio_Speech_Actors_01-24.zip", 208468073, "md5:bc696df654c87fed845eb13823edef8a"),),
        strip="Audio_Speech_Actors_01-24",
    ),
    "librispeech": Source(
        "librispeech",
        _OPENSLR_LIBRISPEECH,
        tuple(
            RemoteFile(f"{subset}.tar.gz", None, f"sha256:{digest}", subset=subset)
            for subset, digest in (
                ("dev-clean", "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
                ("dev-other", "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"),
                ("test-clean", "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
                ("test-other", "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"),
                ("train-clean-100", "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"),
                ("train-clean-360", "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"),
                ("train-other-500", "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"),
            )
        ),
        strip="LibriSpeech",
        default_subsets=("dev-clean", "test-clean", "train-clean-100"),
    ),
    "aishell": Source(
        "aishell",
        "https://www.openslr.org/resources/33",
        (
            RemoteFile("data_aishell.tgz", None, "md5:2f494334227864a8a8fec932999db9d8"),
            RemoteFile("resource_aishell.tgz", None, "md5:957d480a0fcac85fc18e550756f624e5"),
        ),
        nested="data_aishell/wav/*.tar.gz",
    ),
    "crema-d": Source(
        "crema-d",
        _CREMA_MEDIA,
        (
            RemoteFile("VideoDemographics.csv", base=_CREMA_RAW),
            RemoteFile("processedResults/summaryTable.csv", base=_CREMA_RAW),
        ),
        listing="processedResults/summaryTable.csv",
    ),
}

NOT_DOWNLOADABLE = {
    "iemocap": "IEMOCAP is released on request: fill in the licence form at "
    "https://sail.usc.edu/iemocap/iemocap_release.htm, unpack IEMOCAP_full_release and rerun without --download",
    "casia": "CASIA is licensed by the Chinese Linguistic Data Consortium (http://www.chineseldc.org): obtain it, "
    "unpack it as CASIA/<speaker>/<emotion>/<n>.wav and rerun without --download",
    "esd": "ESD is released on request: sign the licence at https://github.com/HLTSingapore/Emotional-Speech-Data, "
    "unpack 'Emotion Speech Dataset' and rerun without --download",
}


# --- small helpers ---------------------------------------------------------------------------


def _printable(text: object, limit: int = 200) -> str:
    """``text`` fit for a one-line message: a server's words lose control characters and length."""
    return "".join(c if c.isprintable() else "?" for c in str(text))[:limit]


def _size(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} bytes"


def _url(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _contained(root: Path, name: str) -> Path:
    """``root / name`` resolved, refused unless it lies below ``root`` (resolved too)."""
    base = root.resolve()
    dest = (base / name).resolve()
    if dest == base or not _inside(str(dest), str(base)):
        raise SertoolError(f"refusing to write {_printable(name)!r} outside {root}")
    return dest


def _check_space(directory: Path, needed: int, what: str) -> None:
    free = shutil.disk_usage(directory).free
    if needed > free:
        raise SertoolError(f"not enough free space for {what}: {_size(needed)} needed, "
                           f"{_size(free)} free in {directory}")


# --- format checks -----------------------------------------------------------------------------


def _wav_problem(path: Path) -> str | None:
    """None for a RIFF/WAVE file whose header and chunk sizes match its length and that soundfile opens."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WAVE":
            return "not a RIFF/WAVE file (an error page?)"
        announced = int.from_bytes(head[4:8], "little") + 8
        if announced != size:
            return f"the RIFF header says {announced} bytes, the file has {size} (truncated?)"
        pos, seen_fmt = 12, False
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            length = int.from_bytes(chunk[4:], "little")
            if pos + 8 + length > size:
                return "a WAVE chunk runs past the end of the file (truncated?)"
            if chunk[:4] == b"data":
                if not seen_fmt:
                    return "WAVE data chunk without a fmt chunk before it"
                break
            seen_fmt = seen_fmt or chunk[:4] == b"fmt "
            pos += 8 + length + (length & 1)  # chunks are padded to an even length
        else:
            return "no WAVE data chunk"
    import soundfile as sf  # only here: the rest of this module needs no audio library

    try:
        sf.info(str(path))
    except RuntimeError:  # soundfile's errors derive from it
        return "a WAVE file soundfile cannot read"
    return None


def _csv_problem(path: Path) -> str | None:
    """None for a UTF-8 CSV table whose header has at least two columns."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        return "not a UTF-8 CSV table"
    if "\0" in text or text.lstrip().startswith("<"):
        return "not a CSV table (an error page?)"
    try:
        header = next(csv.reader(io.StringIO(text)), [])
    except csv.Error as e:
        return f"not a CSV table ({e})"
    return None if len(header) >= 2 else "not a CSV table (no header row)"


def _archive_problem(path: Path) -> str | None:
    """None for a zip whose central directory reads, or a tar whose members all read to the end.

    Walking a compressed tar decompresses it once: the price of catching a truncated gzip before
    the file is trusted (only for archives without a pinned checksum).
    """
    try:
        if zipfile.is_zipfile(path):
            zipfile.ZipFile(path).close()
        else:
            with tarfile.open(path, "r:*") as tf:
                for _ in tf:
                    pass
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError) as e:
        return f"not a readable archive ({_printable(e)})"
    return None


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".tgz", ".tar.gz", ".tar.bz2", ".tar.xz")


def format_check(name: str) -> FormatCheck | None:
    """The format check for a file called ``name`` (by its extension), None where there is none.

    Example:
        >>> format_check("dev-clean.tar.gz") is _archive_problem
        True
    """
    lower = name.lower()
    if lower.endswith(".wav"):
        return _wav_problem
    if lower.endswith(".csv"):
        return _csv_problem
    if lower.endswith(_ARCHIVE_SUFFIXES):
        return _archive_problem
    return None


def file_checksum(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` with ``algorithm`` (``md5`` or ``sha256``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _problem(path: Path, name: str, size: int | None, checksum: str | None, check: FormatCheck | None) -> str | None:
    """What is wrong with ``path`` as file ``name``: size and checksum where pinned, else its format."""
    got = path.stat().st_size
    if size is not None and got != size:
        return f"{name}: {got} bytes, expected {size}"
    if checksum is not None:
        algorithm, _, expected = checksum.partition(":")
        actual = file_checksum(path, algorithm)
        if actual != expected.lower():
            return f"checksum mismatch for {name}: expected {algorithm} {expected}, got {actual}"
        return None
    problem = check(path) if check is not None else None
    return f"{name}: {problem}" if problem else None


# --- fetching ----------------------------------------------------------------------------------


class VerificationError(SertoolError):
    """A file that arrived but failed verification (size, checksum or format); it was removed."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem} (download removed; run again or check the mirror)")
        self.problem = problem


class _Retry(Exception):
    """A transfer that stopped early; the next attempt resumes it."""


class _NotFound(Exception):
    """HTTP 404: :func:`fetch` raises FileNotFoundError, which callers treat as 'not on the server'."""


class _HttpOnlyRedirects(HTTPRedirectHandler):
    """Follow redirects to http(s) URLs only (urllib would also follow one to ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 (urllib's signature)
        if urlsplit(newurl).scheme not in ("http", "https"):
            raise HTTPError(req.full_url, code, f"redirect to a non-HTTP URL refused: {newurl}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = build_opener(_HttpOnlyRedirects)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` header."""
    m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (value or "").strip())
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != "*" else None)


def deadline_s(size: int | None) -> float:
    """Seconds one file of ``size`` bytes may take over all its attempts."""
    return DEADLINE_BASE_S + (size or 0) / MIN_RATE


class _Transfer:
    """One file's download over its attempts: its size limit and deadline, and whether a partial
    ``.part`` is worth keeping (only if the next run can resume it)."""

    def __init__(self, url: str, part: Path, size: int | None, pinned: bool, max_bytes: int,
                 deadline: float | None) -> None:
        self.url, self.part, self.size, self.pinned = url, part, size, pinned
        self.limit = size if size is not None else max_bytes
        self.resumable = pinned or part.exists()  # a .part an earlier run kept was resumable then
        self.started = time.monotonic()
        self.scaled = deadline is None  # the default grows with the size the server announces
        self.seconds = deadline_s(size) if deadline is None else deadline

    def left(self) -> float:
        """Seconds left before the deadline; past it, a SertoolError."""
        left = self.started + self.seconds - time.monotonic()
        if left <= 0:
            raise SertoolError(f"download of {self.url} did not finish within {self.seconds:.3g} s (server too slow?)"
                               + ("; run again to resume" if self.resumable else ""))
        return left

    def fail(self, message: str) -> NoReturn:
        """Give up on a transfer whose partial file is wrong, not merely unfinished."""
        self.resumable = False
        raise SertoolError(f"download of {self.url}: {message}")

    def attempt(self, timeout: float) -> None:
        """Append the rest of the file to ``part`` (or rewrite it when the server ignores Range)."""
        have = self.part.stat().st_size if self.part.exists() else 0
        if have > self.limit:  # left by a run with other limits: start over
            self.part.unlink()
            have = 0
        if self.size is not None and have == self.size:
            return
        headers = {"User-Agent": "sertool"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            # The socket timeout bounds each read; the deadline bounds their sum.
            resp = _OPENER.open(Request(self.url, headers=headers), timeout=min(timeout, self.left()))
        except HTTPError as e:
            e.close()
            if e.code == 416 and have:  # nothing past what we hold: complete, verification decides
                return
            if e.code == 404:
                raise _NotFound(self.url) from None
            raise SertoolError(f"download of {self.url} failed: HTTP {e.code} {_printable(e.reason)}") from None
        except ValueError as e:  # a malformed URL (http.client.InvalidURL is one)
            raise SertoolError(f"cannot download {_printable(self.url)!r}: {_printable(e)}") from None
        with resp:
            self.resumable = (self.pinned or resp.status == 206
                              or resp.headers.get("Accept-Ranges", "").strip().lower() == "bytes")
            total: int | None
            if have and resp.status == 206:
                start, total = _content_range(resp.headers.get("Content-Range"))
                if start != have:
                    self.fail(f"the server resumed at byte {start}, not {have}")
                append = True
            elif resp.status == 206:
                self.fail("the server sent part of the file unasked")
            else:  # a fresh download, or a server without Range support: start over
                have, append = 0, False
                total = resp.length  # http.client's parse of Content-Length (None if absent or invalid)
            if total is not None:
                if self.size is not None and total != self.size:
                    raise SertoolError(f"download of {self.url}: the server has {total} bytes, "
                                       f"expected {self.size} (wrong file?)")
                if total > self.limit:
                    self.fail(f"the server announces {_size(total)}, over the {_size(self.limit)} cap "
                              "for a file of unpinned size")
                if self.scaled:
                    self.seconds = max(self.seconds, deadline_s(total))
            expected = self.size if self.size is not None else total
            if expected is not None:
                _check_space(self.part.parent, expected - have, self.part.name[: -len(".part")])
            self._receive(resp, have, append)
        got = self.part.stat().st_size
        if total is not None and got < total:
            raise _Retry(f"connection closed after {got} of {total} bytes")

    def _receive(self, resp: http.client.HTTPResponse, have: int, append: bool) -> None:
        """Write the body to ``part``; at most ``limit`` bytes in all, before the deadline."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
        try:
            fd = os.open(self.part, flags, 0o644)
        except OSError as e:
            raise SertoolError(f"cannot write {self.part}: {e.strerror or e}") from None
        with open(fd, "ab" if append else "wb") as f:
            while True:
                self.left()
                try:
                    block = resp.read1(CHUNK)  # read1: whatever arrived, so a trickle cannot hold one read
                except (http.client.HTTPException, OSError) as e:
                    raise _Retry(_printable(e) or type(e).__name__) from None
                if not block:
                    return
                have += len(block)
                if have > self.limit:
                    self.fail(f"the server sent more than {_size(self.limit)}" + (
                        "" if self.size is not None else ", the cap for a file of unpinned size"))
                try:
                    f.write(block)
                except OSError as e:
                    raise SertoolError(f"cannot write {self.part}: {e.strerror or e}") from None


def fetch(url: str, dest: Path, size: int | None = None, checksum: str | None = None,
          retries: int = RETRIES, timeout: float = TIMEOUT_S, *, check: FormatCheck | None = None,
          max_bytes: int | None = None, deadline: float | None = None) -> Path:
    """Download ``url`` to ``dest``: resumed from ``dest.part``, verified, then renamed.

    Verification: ``size`` and ``checksum`` where given; without a checksum, ``check`` (default:
    :func:`format_check` of ``dest``'s name). A file already under its final name is verified
    the same way and fetched again if it fails. ``max_bytes`` (default :data:`MAX_DOWNLOAD_BYTES`)
    caps a file of unknown ``size``; ``deadline`` (default :func:`deadline_s`) bounds the seconds
    of all attempts together. A missing remote file raises :class:`FileNotFoundError`, one that
    fails verification :class:`VerificationError`; every other failure is a one-line
    :class:`SertoolError`.

    Example::

        fetch("https://www.openslr.org/resources/33/resource_aishell.tgz", Path("dl/resource_aishell.tgz"),
              checksum="md5:957d480a0fcac85fc18e550756f624e5")
        # PosixPath('dl/resource_aishell.tgz')
    """
    if check is None:
        check = format_check(dest.name)
    if dest.is_file():
        if _problem(dest, dest.name, size, checksum, check) is None:
            return dest
        dest.unlink()  # damaged, or not what is pinned: fetched again
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    pinned = size is not None or checksum is not None
    transfer = _Transfer(url, part, size, pinned, MAX_DOWNLOAD_BYTES if max_bytes is None else max_bytes, deadline)
    try:
        for attempt in range(retries + 1):
            try:
                transfer.attempt(timeout)
                break
            except (_Retry, URLError, OSError, http.client.HTTPException) as e:
                if attempt == retries:
                    reason = _printable(getattr(e, "reason", e)) or type(e).__name__
                    raise SertoolError(f"download of {url} failed after {retries + 1} attempts: {reason}") from None
                time.sleep(min(BACKOFF_S * 2.0**attempt, 10.0, transfer.left()))
    except _NotFound:
        part.unlink(missing_ok=True)
        raise FileNotFoundError(url) from None
    except BaseException:  # Ctrl-C included
        if not transfer.resumable:
            part.unlink(missing_ok=True)
        raise
    problem = _problem(part, dest.name, size, checksum, check)
    if problem is not None:
        part.unlink()  # so a rerun starts clean
        raise VerificationError(problem)
    os.replace(part, dest)
    return dest


# --- extraction ------------------------------------------------------------------------------


class _Extraction:
    """One archive being extracted into ``target``: where members go, and what has been written."""

    def __init__(self, archive: Path, target: Path, strip: str | None, max_bytes: int, max_ratio: float) -> None:
        self.archive, self.strip, self.max_bytes, self.max_ratio = archive, strip, max_bytes, max_ratio
        self.packed = archive.stat().st_size
        target.mkdir(parents=True, exist_ok=True)
        self.root = os.path.realpath(target)
        self.written = 0

    def refuse(self, what: str, name: str) -> NoReturn:
        raise SertoolError(f"{self.archive.name}: refusing {what}: {_printable(name)}")

    def dest(self, name: str) -> str | None:
        """Where member ``name`` goes (None: the stripped top folder itself); refuses escapes."""
        if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
            self.refuse("member with an absolute path", name)
        parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
        if self.strip and parts and parts[0] == self.strip:
            parts = parts[1:]
        if not parts:
            return None
        dest = os.path.normpath(os.path.join(self.root, *parts))
        # Lexical containment suffices as no link is ever created; links already there are
        # refused component by component in make_dirs and write.
        if dest == self.root or not _inside(dest, self.root):
            self.refuse("member that escapes the target directory", name)
        return dest

    def make_dirs(self, dest: str, name: str) -> None:
        """Create ``dest`` and the folders above it, one component at a time, refusing a link or a
        file in the way (``os.makedirs`` would follow a link)."""
        path = self.root
        for part in os.path.relpath(dest, self.root).split(os.sep):
            if part == ".":
                continue
            path = os.path.join(path, part)
            try:
                os.mkdir(path)
            except FileExistsError:
                mode = os.lstat(path).st_mode
                if stat.S_ISLNK(mode):
                    self.refuse("to write through a link already in the target", name)
                if not stat.S_ISDIR(mode):
                    self.refuse("member below a file", name)

    def write(self, src: IO[bytes], dest: str, name: str) -> None:
        """Copy ``src`` to a new file ``dest``, counting the bytes against the caps."""
        self.make_dirs(os.path.dirname(dest), name)
        try:
            mode: int | None = os.lstat(dest).st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None:
            if stat.S_ISLNK(mode):
                self.refuse("to write through a link already in the target", name)
            if stat.S_ISDIR(mode):
                self.refuse("file member over a folder", name)
            os.unlink(dest)  # replaced, not rewritten: a hard link to it elsewhere keeps its content
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_BINARY", 0), 0o644)
        try:
            with open(fd, "wb") as out:
                while block := src.read(CHUNK):
                    self.count(len(block), name)
                    out.write(block)
        except BaseException:
            os.unlink(dest)  # no partial member left under its name
            raise

    def count(self, nbytes: int, name: str) -> None:
        """Add ``nbytes`` to the output; refuse past the size cap or the compression-ratio cap."""
        self.written += nbytes
        if self.written > self.max_bytes:
            self.refuse(f"to write more than {_size(self.max_bytes)} (the extraction cap), at member", name)
        if self.written > RATIO_FLOOR_BYTES and self.written > self.max_ratio * self.packed:
            self.refuse(f"to expand a {_size(self.packed)} archive more than {self.max_ratio:g} times "
                        "(a decompression bomb?), at member", name)


def _extract_tar(ext: _Extraction) -> None:
    if not hasattr(tarfile, "data_filter"):
        import platform

        raise SertoolError("extracting tar archives safely needs tarfile's 'data' filter: Python >= 3.10.12, "
                           f">= 3.11.4 or >= 3.12 (this is Python {platform.python_version()})")
    with tarfile.open(ext.archive, "r:*") as tf:
        for member in tf:  # one pass: a multi-GB .tar.gz is decompressed once
            dest = ext.dest(member.name)
            if dest is None:
                continue
            if member.issym() or member.islnk():
                ext.refuse("link member (the corpora have none)", f"{member.name} -> {member.linkname}")
            if not (member.isfile() or member.isdir()):
                ext.refuse("special file", member.name)
            try:
                tarfile.data_filter(member, ext.root)  # the standard library's checks, on top of ours
            except tarfile.FilterError as e:
                ext.refuse(f"member ({_printable(e)})", member.name)
            if member.isdir():
                ext.make_dirs(dest, member.name)
            else:
                src = tf.extractfile(member)
                assert src is not None  # a regular file always has data
                ext.write(src, dest, member.name)


def _extract_zip(ext: _Extraction) -> None:
    with zipfile.ZipFile(ext.archive) as zf:
        for info in zf.infolist():
            dest = ext.dest(info.filename)
            if dest is None:
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)  # Unix file type, 0 when the zip records none
            if kind == stat.S_IFLNK:
                ext.refuse("link member (the corpora have none)", info.filename)
            if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
                ext.refuse("special file", info.filename)
            if info.is_dir():
                ext.make_dirs(dest, info.filename)
            else:
                with zf.open(info) as src:
                    ext.write(src, dest, info.filename)


def safe_extract(archive: Path, target: Path, strip: str | None = None, *, max_bytes: int | None = None,
                 max_ratio: float | None = None) -> None:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``target``, refusing escaping members,
    links and special files, and stopping at ``max_bytes`` written (default
    :data:`MAX_EXTRACT_BYTES`) or ``max_ratio`` times the archive's size (default :data:`MAX_RATIO`).

    ``strip`` drops that leading folder from member paths (``LibriSpeech/dev-clean/...`` →
    ``dev-clean/...``) so the archive fills ``target`` itself.

    Example::

        safe_extract(Path("dl/dev-clean.tar.gz"), Path("corpora/LibriSpeech"), strip="LibriSpeech")
    """
    try:
        ext = _Extraction(archive, target, strip, MAX_EXTRACT_BYTES if max_bytes is None else max_bytes,
                          MAX_RATIO if max_ratio is None else max_ratio)
        if zipfile.is_zipfile(archive):
            _extract_zip(ext)
        else:
            _extract_tar(ext)
    # A damaged archive surfaces as any of these, depending on the layer that notices; zipfile
    # raises NotImplementedError for unknown compression and RuntimeError for encryption.
    except (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error, lzma.LZMAError,
            NotImplementedError, RuntimeError, OSError) as e:
        raise SertoolError(f"cannot extract {archive.name}: {_printable(e) or type(e).__name__}") from None


def _extract_once(archive: Path, target: Path, strip: str | None) -> None:
    """Extract unless a marker says this archive, as it is now, was already extracted into ``target``."""
    marker = archive.with_name(archive.name + ".extracted")
    st = archive.stat()
    # Size and mtime too: an archive fetched again (it failed verification) is extracted again.
    stamp = f"{target.resolve()}\n{st.st_size} {st.st_mtime_ns}\n"
    if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
        return
    safe_extract(archive, target, strip)
    marker.write_text(stamp, encoding="utf-8")


# --- corpora ---------------------------------------------------------------------------------


def _listing_names(path: Path) -> list[str]:
    """``AudioWAV/<FileName>.wav`` for every row of CREMA-D's ``summaryTable.csv``.

    Raises ValueError saying what is wrong: not a CSV, no FileName column, no names, or a name
    outside the release's scheme (the names become paths, so anything else is refused).
    """
    problem = _csv_problem(path)
    if problem is not None:
        raise ValueError(problem)
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig")))
    names: set[str] = set()
    try:
        if "FileName" not in (rows.fieldnames or ()):
            raise ValueError("no FileName column")
        for row in rows:
            name = (row.get("FileName") or "").strip()
            if name and not is_release_name(name):
                raise ValueError(f"refusing FileName {_printable(name, 60)!r} on line {rows.line_num}: "
                                 "not a CREMA-D file name like 1001_DFA_ANG_XX")
            if name:
                names.add(f"AudioWAV/{name}.wav")
    except csv.Error as e:
        raise ValueError(f"not a CSV table ({e})") from None
    if not names:
        raise ValueError("no file names listed")
    return sorted(names)


def _listing_problem(path: Path) -> str | None:
    try:
        _listing_names(path)
    except ValueError as e:
        return str(e)
    return None


def _listed_audio(csv_path: Path) -> list[str]:
    """The validated names of CREMA-D's listing; SertoolError if it is bad."""
    try:
        return _listing_names(csv_path)
    except ValueError as e:
        raise SertoolError(f"{csv_path}: {e}") from None


def download_corpus(
    corpus: str,
    corpus_dir: Path,
    archive_dir: Path | None = None,
    subsets: Iterable[str] | None = None,
    mirror: str | None = None,
    threads: int = 4,
) -> list[str]:
    """Fetch and unpack ``corpus`` so that ``corpus_dir`` holds it; returns notes for the user.

    Archives go to ``archive_dir`` (default: the parent of ``corpus_dir``). ``subsets`` picks
    LibriSpeech subsets (default: dev-clean, test-clean, train-clean-100). ``mirror`` (or
    ``$SERTOOL_DOWNLOAD_BASE``) replaces every base URL. Rerunning skips what is complete.
    """
    if corpus in NOT_DOWNLOADABLE:
        raise SertoolError(NOT_DOWNLOADABLE[corpus])
    if corpus not in SOURCES:
        raise SertoolError(f"no download for {corpus!r} (downloadable: {', '.join(SOURCES)})")
    source = SOURCES[corpus]
    mirror = mirror or os.environ.get(MIRROR_ENV) or None
    corpus_dir = Path(corpus_dir)
    archive_dir = Path(archive_dir) if archive_dir is not None else corpus_dir.resolve().parent
    files = list(source.files)
    if source.default_subsets:
        wanted = list(subsets) if subsets else list(source.default_subsets)
        known = [f.subset for f in files]
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise SertoolError(f"unknown {corpus} subset(s) {', '.join(unknown)} (known: {', '.join(known)})")
        files = [f for f in files if f.subset in wanted]

    def url_of(f: RemoteFile) -> str:
        return _url(mirror or f.base or source.base, f.name)

    notes: list[str] = []
    if source.listing is not None:
        # Plain files that belong in the corpus directory itself (CREMA-D): no archive.
        for f in files:
            try:
                fetch(url_of(f), _contained(corpus_dir, f.name), f.size, f.checksum,
                      check=_listing_problem if f.name == source.listing else None, max_bytes=MAX_LOOSE_BYTES)
            except FileNotFoundError:
                raise SertoolError(f"not on the server: {url_of(f)}") from None
        names = _listed_audio(_contained(corpus_dir, source.listing))
        missing: list[str] = []
        rejected: list[str] = []

        def one(name: str) -> None:
            try:
                fetch(_url(mirror or source.base, name), _contained(corpus_dir, name), max_bytes=MAX_LOOSE_BYTES)
            except FileNotFoundError:
                missing.append(name)
            except VerificationError as e:  # one bad clip (removed) does not hold up the other thousands
                rejected.append(e.problem)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(one, name) for name in names]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:  # the first failure ends the download: no more requests
                    future.cancel()
                raise
        if missing:
            notes.append(f"{len(missing)} of {len(names)} files listed in {source.listing} are not on the server "
                         f"(e.g. {', '.join(sorted(missing)[:3])})")
        if rejected:
            notes.append(f"{len(rejected)} of {len(names)} files failed verification and were not kept; "
                         f"run again to fetch them again (e.g. {min(rejected)})")
        return notes

    for f in files:
        archive = _contained(archive_dir, Path(f.name).name)
        try:
            fetch(url_of(f), archive, f.size, f.checksum)
        except FileNotFoundError:
            raise SertoolError(f"not on the server: {url_of(f)}") from None
        _extract_once(archive, corpus_dir, source.strip)
    if source.nested is not None:
        for inner in sorted(corpus_dir.glob(source.nested)):
            # Speaker archives (AISHELL-1's data_aishell/wav/S0002.tar.gz) unpack beside themselves;
            # deleted afterwards as the outer archive still holds them.
            safe_extract(inner, inner.parent)
            inner.unlink()
    return notes
