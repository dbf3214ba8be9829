"""The ``features`` stage: manifests in, HDF5 feature directories out (see :mod:`sertool.features.storage`).

Layout: a single extractor writes its feature directory at ``OUT_DIR`` itself
(``sertool features m.jsonl feats/fbank -e fbank``); a combination ``-e fbank+pitch`` reads and
resamples each file once, computes every extractor, and writes one standard feature
directory per extractor under ``OUT_DIR/<name>/`` (``feats/fbank/``, ``feats/pitch/``).

One process writes a feature directory at a time: a run holds :func:`~sertool.stage.output_lock`
on ``OUT_DIR`` and on every directory it writes, and a second run into any of them is refused.

Utterances go to shards in fixed-size chunks (``shard_size``, default 100) in manifest order,
so shard contents never depend on ``--jobs``; each shard is one job (one writer) for a worker
process. Finished shards are skipped on rerun, so a killed run resumes where it stopped (its
summary counts the shards written in this run and those kept from before); ``--force`` redoes
everything. Extractors needing speaker statistics (``pitch`` normalised per speaker) first write
their first-pass matrices to ``<dir>/.stage/``, pool the statistics per speaker into
``<dir>/speaker_f0.json``, then write the final shards.

Example::

    summary = extract_features([Path("data/ravdess/manifest.jsonl")], Path("feats"), "fbank+pitch",
                               config=None, jobs=2, force=False)
    rich.print(summary)   # utterances, frames, dims, wall time, speed per extractor
"""

from __future__ import annotations

import json
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rich.table import Table

from sertool.errors import SertoolError
from sertool.features.augment import AugmentConfig
from sertool.features.cmvn import Cmvn
from sertool.features.config import DEFAULT_SHARD_SIZE, SHARED_SECTIONS, build_config, config_dict, load_yaml
from sertool.features.extractors import CONFIG_NAME, extractor_names, get_extractor, parse_extractor_names
from sertool.features.jobs import ShardJob, Target, UttRef, run_jobs, warm_up
from sertool.features.random_resample import RandomResampleConfig
from sertool.features.storage import merge_fragments, read_fragment, remove_stale, shard_done
from sertool.stage import DONE_NAME, StageMarker, atomic_write_json, atomic_write_text, output_lock

FORMAT_VERSION = 1
SPEAKER_F0_NAME = "speaker_f0.json"


@dataclass
class FeatureSettings:
    """The resolved ``--config``: per-extractor settings and the shared sections."""

    extractors: dict[str, dict[str, Any]]
    augment: AugmentConfig
    random_resample: RandomResampleConfig
    shard_size: int


def resolve_settings(names: list[str], config: Path | None) -> FeatureSettings:
    """Read the ``--config`` YAML (sections: extractor names, ``augment``, ``random_resample``, ``shard_size``)."""
    raw = load_yaml(config)
    known = set(extractor_names()) | set(SHARED_SECTIONS)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SertoolError(f"unknown section {unknown[0]!r} in {config} (known: {', '.join(sorted(known))})")
    shard_size = raw.get("shard_size", DEFAULT_SHARD_SIZE)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise SertoolError(f"shard_size must be a positive integer, got {shard_size!r}")
    return FeatureSettings(
        extractors={n: get_extractor(n, raw.get(n)).conf_dict() for n in names},
        augment=build_config(AugmentConfig, raw.get("augment"), "augment"),
        random_resample=build_config(RandomResampleConfig, raw.get("random_resample"), "random_resample"),
        shard_size=shard_size,
    )


def make_targets(names: list[str], out_dir: Path, s: FeatureSettings, manifests: list[Path]) -> list[Target]:
    """One :class:`Target` per extractor (``OUT_DIR`` itself for one, ``OUT_DIR/<name>`` for several)."""
    targets = []
    for name in names:
        settings = {
            "format": FORMAT_VERSION, "extractor": name, "conf": s.extractors[name],
            "augment": config_dict(s.augment), "random_resample": config_dict(s.random_resample),
            "shard_size": s.shard_size,
        }
        t = Target(name, s.extractors[name], out_dir if len(names) == 1 else out_dir / name, settings)
        t.digest = StageMarker(t.feats_dir, settings, manifests).digest
        targets.append(t)
    return targets


def shards_of(utts: list[UttRef], size: int) -> list[list[UttRef]]:
    """Fixed-size chunks in manifest order."""
    return [utts[i:i + size] for i in range(0, len(utts), size)]


def pooled_speaker_stats(t: Target, num_shards: int) -> dict[str, list[float]]:
    """Pool the staged shards' per-speaker statistics; saved as ``speaker_f0.json`` for inspection."""
    pooled: dict[str, np.ndarray] = {}
    for shard in range(num_shards):
        frag = read_fragment(t.stage_dir, shard)
        assert frag is not None
        for spk, st in frag["extra"].get("speaker_stats", {}).items():
            pooled[spk] = pooled.get(spk, np.zeros(3)) + np.asarray(st)
    summary = {}
    for spk, (n, s, ss) in sorted(pooled.items()):
        mean = s / n if n else 0.0
        summary[spk] = {"count": int(n), "sum": s, "sumsq": ss, "mean": mean,
                        "std": float(np.sqrt(max(ss / n - mean * mean, 0.0))) if n else 0.0}
    atomic_write_json(t.feats_dir / SPEAKER_F0_NAME, summary)
    return {spk: v.tolist() for spk, v in pooled.items()}


def finish_target(t: Target, num_shards: int, manifests: list[Path]) -> dict[str, Any]:
    """Merge the index and CMVN, save the config, mark done; return numbers for the summary."""
    ext = get_extractor(t.name, t.conf)
    counts, moments = merge_fragments(t.feats_dir, num_shards, ext.dims)
    Cmvn(ext.dims, moments.by_speaker).save(t.feats_dir)
    saved = {**t.settings, "manifests": [str(p) for p in manifests]}
    atomic_write_text(t.feats_dir / CONFIG_NAME, yaml.safe_dump(saved, sort_keys=False))
    info = {"extractor": t.name, **counts, "dims": ext.dims, "frame_shift": ext.frame_shift}
    StageMarker(t.feats_dir, t.settings, manifests).mark_done(**info)
    shutil.rmtree(t.stage_dir, ignore_errors=True)  # first-pass matrices are not needed any more
    return info


def shards_written(extract_jobs: list[ShardJob], finalize_jobs: list[ShardJob]) -> dict[str, int]:
    """Final shards each target got in this run, from the jobs that ran (all of them, or the run raised).

    A staged target's final shards are its finalize jobs; its extract jobs only wrote ``.stage/``.
    """
    written: dict[str, set[int]] = {}
    for job in extract_jobs:
        for t in job.targets:
            if not t.staged:
                written.setdefault(t.name, set()).add(job.shard)
    for job in finalize_jobs:
        for t in job.targets:
            written.setdefault(t.name, set()).add(job.shard)
    return {name: len(shards) for name, shards in written.items()}


def summary_table(infos: list[dict[str, Any]], wall: float, audio_seconds: float, skipped: list[str],
                  written: dict[str, int], num_shards: int) -> Table:
    """The printable summary of a run: one row per feature directory.

    ``written`` counts the final shards each extractor finished in this run, out of
    ``num_shards``: a resumed run says how many it wrote and how many a killed run had left,
    instead of calling the whole directory written (the utterance and frame counts are the
    directory's).

    Example::

        summary_table(infos, wall=3.2, audio_seconds=40.0, skipped=[], written={"fbank": 2}, num_shards=4)
        # fbank row: shards "2 of 4", status "resumed (2 shards from before)"
    """
    if audio_seconds and wall > 0:
        speed = audio_seconds / wall
        title = f"features: {audio_seconds:.1f} s of audio in {wall:.1f} s wall ({speed:.0f}× real time)"
    elif len(skipped) < len(infos):  # a killed run had written every shard: only the index was left to merge
        title = f"features: no audio to read, finished from shards written before ({wall:.1f} s wall)"
    else:
        title = f"features: nothing to compute ({wall:.1f} s wall)"
    table = Table(title=title)
    for col in ("directory", "utts", "stored", "frames", "dims", "shift (s)", "shards", "status"):
        table.add_column(col, overflow="fold")
    for i in infos:
        if i["extractor"] in skipped:
            shards, status = f"0 of {num_shards}", "up to date"
        else:
            n = written.get(i["extractor"], 0)
            before = num_shards - n
            shards = f"{n} of {num_shards}"
            status = "written" if before == 0 else f"resumed ({before} shard{'s' * (before != 1)} from before)"
        table.add_row(i["dir"], str(i["utterances"]), str(i["stored"]), str(i["frames"]), str(i["dims"]),
                      f"{i['frame_shift']:g}", shards, status)
    return table


def plan_extract_jobs(todo: list[Target], shards: list[list[UttRef]], common: dict[str, Any]) -> list[ShardJob]:
    """First-phase jobs: per shard, the targets whose (final or staged) shard is not finished."""
    # a staged target needs every staged shard while any final shard is missing: the
    # speaker statistics pool over all of them
    needs_stage = {t.name: t.staged and not all(shard_done(t.feats_dir, k, t.digest) for k in range(len(shards)))
                   for t in todo}
    jobs = []
    for k, chunk in enumerate(shards):
        chosen = [t for t in todo
                  if (needs_stage[t.name] and not shard_done(t.stage_dir, k, t.stage_digest))
                  or (not t.staged and not shard_done(t.feats_dir, k, t.digest))]
        if chosen:
            jobs.append(ShardJob(k, chunk, chosen, **common))
    return jobs


def plan_finalize_jobs(todo: list[Target], shards: list[list[UttRef]], common: dict[str, Any]) -> list[ShardJob]:
    """Second-phase jobs of staged targets: unfinished final shards, with the pooled speaker statistics."""
    jobs = []
    for t in todo:
        missing = [k for k in range(len(shards)) if t.staged and not shard_done(t.feats_dir, k, t.digest)]
        if missing:
            stats = pooled_speaker_stats(t, len(shards))
            jobs += [ShardJob(k, shards[k], [t], phase="finalize", speaker_stats=stats, **common)
                     for k in missing]
    return jobs


def extract_features(manifests: list[Path], out_dir: Path, extractor: str, config: Path | None = None,
                     jobs: int = 1, force: bool = False) -> Table:
    """Compute features for every utterance of ``manifests`` into ``out_dir`` (see module doc).

    Returns a rich table: utterances, stored matrices (with copies), frames, dims, wall time,
    speed (audio seconds per wall second).
    """
    from sertool.data.manifest import read_manifests

    start = time.perf_counter()
    manifests = [Path(m) for m in manifests]
    names = parse_extractor_names(extractor)
    settings = resolve_settings(names, config)
    utts = [UttRef(u.id, u.audio, u.speaker, u.gender) for u in read_manifests(manifests)]
    if not utts:
        raise SertoolError("the manifests hold no utterances")
    targets = make_targets(names, Path(out_dir), settings, manifests)
    shards = shards_of(utts, settings.shard_size)
    with ExitStack() as locks:
        # before anything is deleted: another run into OUT_DIR, or into one of the extractor
        # directories (``-e fbank`` into OUT_DIR/fbank beside ``-e fbank+pitch`` into OUT_DIR),
        # would remove this run's temporary files and interleave shards
        for d in dict.fromkeys([Path(out_dir), *(t.feats_dir for t in targets)]):
            locks.enter_context(output_lock(d, "features"))
        return _extract_locked(manifests, targets, shards, settings, jobs, force, start)


def _extract_locked(manifests: list[Path], targets: list[Target], shards: list[list[UttRef]],
                    settings: FeatureSettings, jobs: int, force: bool, start: float) -> Table:
    """The body of :func:`extract_features`, run while holding the output locks."""
    done, todo = [], []
    for t in targets:
        marker = StageMarker(t.feats_dir, t.settings, manifests)
        if marker.is_done() and not force:
            done.append(t)
            continue
        marker.clear()
        if force:
            for d in (t.feats_dir, t.stage_dir):
                remove_stale(d, 0, t.digest)  # keep nothing
        remove_stale(t.feats_dir, len(shards), t.digest)
        remove_stale(t.stage_dir, len(shards), t.stage_digest)
        todo.append(t)

    common = {"augment": config_dict(settings.augment), "random_resample": config_dict(settings.random_resample)}
    extract_jobs = plan_extract_jobs(todo, shards, common)
    if jobs > 1 and len(extract_jobs) > 1:
        warm_up(todo, settings.augment)
    results = run_jobs(extract_jobs, jobs, "features")
    finalize_jobs = plan_finalize_jobs(todo, shards, common)
    run_jobs(finalize_jobs, jobs, "speaker normalisation")

    infos = []
    for t in targets:
        if t in done:
            info = json.loads((t.feats_dir / DONE_NAME).read_text())
        else:
            info = finish_target(t, len(shards), manifests)
        infos.append({**info, "dir": str(t.feats_dir)})
    audio = sum(r.audio_seconds for r in results)
    return summary_table(infos, time.perf_counter() - start, audio, [t.name for t in done],
                         written=shards_written(extract_jobs, finalize_jobs), num_shards=len(shards))
