"""Stand-in corpora: miniature copies of each corpus ``sertool prep`` reads, in the corpus's own
on-disk layout, with synthetic speech, so that every recipe runs end to end without the licensed
corpora (a dry run: no figure from a stand-in says anything about the real corpus).

One writer per layout is registered in :data:`WRITERS` (``iemocap``, ``esd``, ``librispeech``,
``aishell``, ``casia``, ``ravdess``, ``crema-d`` and ``folder``, each in its own module here);
:func:`generate_standin` runs one into a directory that the unchanged ``sertool prep <corpus>``
then reads. The speech comes from :mod:`sertool.corpora.synthetic` (eSpeak NG + WORLD, English or
Mandarin), transcripts are what is spoken, and labels carry each corpus's real codes.

The tree is written into a hidden temporary directory beside ``out_dir`` and renamed into place
with its marker (:data:`MARKER`) inside, so a killed run never leaves a tree that looks complete.
A rerun with the same settings finds the marker and does nothing; other settings, or ``force``,
rebuild it. A directory that exists without the marker (and is not empty) is never touched.

Example::

    result = generate_standin("iemocap", Path("stand_in/IEMOCAP_full_release"), seed=0, jobs=2)
    result.files, result.created   # (154, True); then: sertool prep iemocap stand_in/IEMOCAP_full_release …
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sertool.corpora.standin import iemocap  # noqa: F401
from sertool.corpora.standin.base import WRITERS, Build, Take, Writer, check_size, rendering  # noqa: F401
from sertool.errors import SertoolError

MARKER = ".sertool-stand-in.json"
# Bumped whenever a writer's output changes, so trees made before are rebuilt.
STANDIN_VERSION = 1
_TEMP_TAG = ".stand-in-"


@dataclass
class StandinResult:
    """What :func:`generate_standin` did: the tree, its settings, whether it was (re)built."""

    corpus: str
    out_dir: Path
    settings: dict
    files: int
    created: bool


def read_marker(out_dir: Path) -> dict | None:
    """The settings recorded in a stand-in tree's marker, or None if ``out_dir`` has none.

    Example:
        >>> read_marker(Path("/nonexistent")) is None
        True
    """
    try:
        return json.loads((Path(out_dir) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _remove_stale_temps(parent: Path, name: str) -> None:
    """Delete temporary trees of killed runs for ``name`` (their process no longer exists)."""
    prefix = f".{name}{_TEMP_TAG}"
    for tmp in parent.glob(f"{prefix}*"):
        pid = tmp.name[len(prefix):].split("-")[0]  # .NAME.stand-in-<pid>-<random>
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:  # a live process of another user
            continue


def generate_standin(
    corpus: str,
    out_dir: str | Path,
    seed: int = 0,
    jobs: int = 2,
    per_speaker: int | None = None,
    speakers: int | None = None,
    like: str | None = None,
    force: bool = False,
) -> StandinResult:
    """Write the stand-in of ``corpus`` into ``out_dir`` (see the module docstring).

    ``per_speaker`` (utterances per speaker and label class, or per chapter) and ``speakers``
    (where the layout lets the number vary) default to each writer's tiny size; ``like`` picks a
    variant of the ``folder`` layout (``seqd`` or ``calls``). Same settings → same tree.
    """
    writer: Writer = WRITERS.get(corpus)
    if jobs < 1:
        raise SertoolError(f"stand-in {corpus}: --jobs must be at least 1, got {jobs}")
    per, n, variant = check_size(corpus, writer, per_speaker, speakers, like)
    settings = {"corpus": corpus, "version": STANDIN_VERSION, "seed": seed, "per_speaker": per, "speakers": n,
                "like": variant}
    out = Path(out_dir).absolute()
    if out.exists() or out.is_symlink():
        marker = read_marker(out)
        if not out.is_dir() or (marker is None and any(out.iterdir())):
            raise SertoolError(f"{out} exists and is not a stand-in tree made by sertool stand-in "
                               f"(no {MARKER}): choose another OUT_DIR, or remove it yourself")
        if marker is not None and not force and {k: marker.get(k) for k in settings} == settings:
            return StandinResult(corpus, out, settings, int(marker.get("files", 0)), created=False)

    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(out.parent, out.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TEMP_TAG}{os.getpid()}-", dir=out.parent))
    try:
        build = Build(corpus, tmp, seed, jobs, per, n, variant)
        writer.write(build)
        files = sum(1 for p in tmp.rglob("*") if p.is_file())
        (tmp / MARKER).write_text(json.dumps({**settings, "files": files}, indent=1) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a corpus tree is readable like any other
        if out.exists():
            # Replace our own earlier tree (or an empty directory): move it aside first, so the
            # new one appears whole; the old one is deleted after.
            old = out.parent / f".{out.name}{_TEMP_TAG}{os.getpid()}-old"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return StandinResult(corpus, out, settings, files, created=True)
