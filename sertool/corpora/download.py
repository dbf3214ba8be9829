"""Fetching the corpora one may download directly: RAVDESS, CREMA-D, LibriSpeech, AISHELL-1.

Downloads resume (HTTP ``Range``) from a ``<name>.part`` file, are checked against the size and
checksum in :data:`SOURCES` (where a checksum is unknown, the size the server announces is checked
instead) and are renamed to their final name only once verified, so a file under its final name
is complete. Extraction refuses any archive member that would land outside the target directory:
absolute paths, ``..``, symlinks and hard links pointing out, device files.

The base URL of every source can be replaced (``--mirror`` or the ``SERTOOL_DOWNLOAD_BASE``
environment variable): files are then fetched from ``<mirror>/<name>``, e.g. an OpenSLR mirror,
a lab server, or a test server on 127.0.0.1.

IEMOCAP, CASIA and ESD are licensed on request; :func:`download_corpus` says where to ask.

Example:
    >>> download_corpus("librispeech", Path("corpora/LibriSpeech"), subsets=["dev-clean"])
    []
    >>> safe_extract(Path("x.tar.gz"), Path("out"))  # raises on "../../etc/passwd"
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import re
import shutil
import stat
import tarfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

from sertool.errors import SertoolError

MIRROR_ENV = "SERTOOL_DOWNLOAD_BASE"
CHUNK = 1 << 20
RETRIES = 3
TIMEOUT_S = 60.0
BACKOFF_S = 1.0  # first pause before a retry; doubles each time, at most 10 s


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source.

    ``name`` is its path under the source's base URL and under the local directory it goes to;
    ``checksum`` is ``"md5:<hex>"`` or ``"sha256:<hex>"``, None where no published value is known
    (then the size the server announces is what is checked).
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


class _Retry(Exception):
    """A transfer that stopped early; the next attempt resumes it."""


def _url(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def _content_range_total(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` header."""
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)", value or "")
    if not m:
        return None, None
    return int(m.group(1)), (int(m.group(2)) if m.group(2) != "*" else None)


def _transfer(url: str, part: Path, size: int | None, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (or rewrite it when the server ignores Range)."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have == size:
        return
    headers = {"User-Agent": "sertool"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as e:
        if e.code == 416 and have:  # nothing past what we hold: complete, verification decides
            return
        if e.code == 404:
            raise FileNotFoundError(url) from None
        raise SertoolError(f"download of {url} failed: HTTP {e.code} {e.reason}") from None
    with resp:
        total: int | None
        if have and resp.status == 206:
            start, total = _content_range_total(resp.headers.get("Content-Range"))
            if start != have:
                raise SertoolError(f"download of {url}: server resumed at byte {start}, not {have}")
            mode = "ab"
        else:  # a fresh download, or a server without Range support: start over
            have, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length is not None else None
        if size is not None and total is not None and total != size:
            raise SertoolError(f"download of {url}: the server has {total} bytes, expected {size} (wrong file?)")
        with open(part, mode) as f:
            try:
                while block := resp.read(CHUNK):
                    f.write(block)
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError) as e:
                raise _Retry(str(e)) from None
    got = part.stat().st_size
    if total is not None and got < total:
        raise _Retry(f"connection closed after {got} of {total} bytes")


def file_checksum(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` with ``algorithm`` (``md5`` or ``sha256``)."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _verify(part: Path, dest_name: str, size: int | None, checksum: str | None) -> None:
    """Raise (and delete the bad download, so a rerun starts clean) on a size or checksum mismatch."""
    got = part.stat().st_size
    if size is not None and got != size:
        part.unlink()
        raise SertoolError(f"{dest_name}: downloaded {got} bytes, expected {size} (removed; run again)")
    if checksum is not None:
        algorithm, _, expected = checksum.partition(":")
        actual = file_checksum(part, algorithm)
        if actual != expected.lower():
            part.unlink()
            raise SertoolError(f"checksum mismatch for {dest_name}: expected {algorithm} {expected}, got {actual} "
                               "(download removed; run again or check the mirror)")


def fetch(url: str, dest: Path, size: int | None = None, checksum: str | None = None,
          retries: int = RETRIES, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest``: resumed from ``dest.part``, verified, then renamed.

    A file already under its final name passed verification before and is kept. A missing
    remote file raises :class:`FileNotFoundError`; every other failure is a :class:`SertoolError`.

    Example:
        >>> fetch("https://www.openslr.org/resources/33/resource_aishell.tgz", Path("dl/resource_aishell.tgz"),
        ...       checksum="md5:957d480a0fcac85fc18e550756f624e5")
        PosixPath('dl/resource_aishell.tgz')
    """
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            _transfer(url, part, size, timeout)
            break
        except (_Retry, URLError, ConnectionError, TimeoutError, http.client.HTTPException) as e:
            if attempt == retries:
                raise SertoolError(f"download of {url} failed after {retries + 1} attempts: {e}") from None
            time.sleep(min(BACKOFF_S * 2.0**attempt, 10.0))
    _verify(part, dest.name, size, checksum)
    os.replace(part, dest)
    return dest


# --- extraction ------------------------------------------------------------------------------


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def _member_dest(name: str, target: Path, strip: str | None, archive: Path) -> Path | None:
    """Where member ``name`` goes under ``target`` (None: the stripped top folder itself).

    Raises :class:`SertoolError` for absolute paths and paths escaping ``target``.
    """
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise SertoolError(f"{archive.name}: refusing member with an absolute path: {name}")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if strip and parts and parts[0] == strip:
        parts = parts[1:]
    if not parts:
        return None
    root = os.path.realpath(target)
    dest = os.path.normpath(os.path.join(root, *parts))
    # realpath of the parent: a symlink extracted earlier must not carry later members outside.
    if not _inside(dest, root) or not _inside(os.path.realpath(os.path.dirname(dest)), root):
        raise SertoolError(f"{archive.name}: refusing member that escapes the target directory: {name}")
    return Path(dest)


def _check_link(link: str, dest: Path, target: Path, archive: Path, name: str) -> None:
    """Refuse a symlink whose target is absolute or resolves outside ``target``."""
    root = os.path.realpath(target)
    if os.path.isabs(link) or not _inside(os.path.normpath(os.path.join(os.path.dirname(dest), link)), root):
        raise SertoolError(f"{archive.name}: refusing link that points outside the target directory: {name} -> {link}")


def _extract_tar(archive: Path, target: Path, strip: str | None) -> None:
    try:
        tf = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as e:
        raise SertoolError(f"cannot open archive {archive}: {e}") from None
    with tf:
        for member in tf:  # one pass: a multi-GB .tar.gz is decompressed once
            dest = _member_dest(member.name, target, strip, archive)
            if dest is None:
                continue
            if member.issym():
                _check_link(member.linkname, dest, target, archive, member.name)
            elif member.islnk():
                linked = _member_dest(member.linkname, target, strip, archive)
                if linked is None:
                    raise SertoolError(f"{archive.name}: refusing hard link to the archive root: {member.name}")
                member.linkname = linked.relative_to(os.path.realpath(target)).as_posix()
            elif not (member.isfile() or member.isdir()):
                raise SertoolError(f"{archive.name}: refusing special file: {member.name}")
            member.name = dest.relative_to(os.path.realpath(target)).as_posix()
            try:
                # The "data" filter re-checks all of the above in the standard library.
                tf.extract(member, target, filter="data")
            except tarfile.FilterError as e:
                raise SertoolError(f"{archive.name}: refusing member: {e}") from None


def _extract_zip(archive: Path, target: Path, strip: str | None) -> None:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as e:
        raise SertoolError(f"cannot open archive {archive}: {e}") from None
    with zf:
        for info in zf.infolist():
            dest = _member_dest(info.filename, target, strip, archive)
            if dest is None:
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode("utf-8")
                _check_link(link, dest, target, archive, info.filename)
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.is_symlink() or dest.exists():
                    dest.unlink()
                os.symlink(link, dest)
            elif info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)


def safe_extract(archive: Path, target: Path, strip: str | None = None) -> None:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``target``, refusing escaping members.

    ``strip`` drops that leading folder from member paths (``LibriSpeech/dev-clean/...`` →
    ``dev-clean/...``) so the archive fills ``target`` itself.

    Example:
        >>> safe_extract(Path("dl/dev-clean.tar.gz"), Path("corpora/LibriSpeech"), strip="LibriSpeech")
    """
    target.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, target, strip)
    else:
        _extract_tar(archive, target, strip)


def _extract_once(archive: Path, target: Path, strip: str | None) -> None:
    """Extract unless a marker says this archive was already extracted into ``target``."""
    marker = archive.with_name(archive.name + ".extracted")
    if marker.is_file() and marker.read_text(encoding="utf-8").strip() == str(target.resolve()):
        return
    safe_extract(archive, target, strip)
    marker.write_text(str(target.resolve()) + "\n", encoding="utf-8")


# --- corpora ---------------------------------------------------------------------------------


def _listed_audio(csv_path: Path) -> list[str]:
    """``AudioWAV/<FileName>.wav`` for every row of CREMA-D's ``summaryTable.csv``."""
    text = csv_path.read_text(encoding="utf-8-sig")
    rows = csv.DictReader(io.StringIO(text))
    if "FileName" not in (rows.fieldnames or ()):
        raise SertoolError(f"{csv_path}: no FileName column")
    return sorted({f"AudioWAV/{row['FileName'].strip()}.wav" for row in rows if row["FileName"].strip()})


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
                fetch(url_of(f), corpus_dir / f.name, f.size, f.checksum)
            except FileNotFoundError:
                raise SertoolError(f"not on the server: {url_of(f)}") from None
        names = _listed_audio(corpus_dir / source.listing)
        missing: list[str] = []

        def one(name: str) -> None:
            try:
                fetch(_url(mirror or source.base, name), corpus_dir / name)
            except FileNotFoundError:
                missing.append(name)

        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(one, names))
        if missing:
            notes.append(f"{len(missing)} of {len(names)} files listed in {source.listing} are not on the server "
                         f"(e.g. {', '.join(sorted(missing)[:3])})")
        return notes

    for f in files:
        archive = archive_dir / Path(f.name).name
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
