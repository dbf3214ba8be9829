"""Benchmark of the features stage: speed and peak memory of sertool's pipeline vs a bare loop.

For each extractor (fbank, logmel, pitch by default) it measures, each in a fresh process:

* ``bare``: a plain loop over the manifest — soundfile read + the same features computed with
  torchaudio (Kaldi fbank), librosa (log-mel + Δ/ΔΔ) or pyworld (dio + stonemask), one torch
  and one BLAS thread, nothing stored; with ``--jobs 2`` also split over two forked processes
  (the machine's own parallel ceiling);
* ``kernels``: the same loop with sertool's reader and extractor (:func:`sertool.audio.read_audio`,
  ``Extractor.compute``), nothing stored: what the pipeline adds on top is storage and bookkeeping;
* ``sertool -jN``: :func:`sertool.features.pipeline.extract_features` with ``--jobs N`` and
  ``--force`` (shards, index, CMVN, config all written).

Before each run the previous output of the same mode is deleted and dirty pages are flushed
(``os.sync``), so no run pays for an earlier one's files. Wall time excludes interpreter
start-up and imports (CPU time is user + system of the process and its workers over the same
span); each process warms up once on one second of noise before the clock starts. Speed is
audio seconds per wall second ("× real time"). Peak memory is the largest sum over the process
and its children, sampled every 250 ms from /proc, of RSS and of PSS (RSS/PSS in the table;
PSS divides pages shared by forked workers between them, so it is the memory really used).

Usage:
    python benchmarks/features_bench.py MANIFEST [--jobs 1 2] [--extractors fbank logmel pitch]
    python benchmarks/features_bench.py --make-corpus /tmp/bench --minutes 60   # synthetic corpus

Example output row (wall, CPU, speed, peak RSS/PSS per mode; then ratios to the bare loop):
    | fbank | 3634 | 1.70 s (1.63 s CPU), 2140×, 582/578 MB | 1.07 s (1.89 s CPU), 3380×, 1290/597 MB | ... |
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH_EXTRACTORS = ("fbank", "logmel", "pitch")


# ---------------------------------------------------------------------------------------
# inside the measured child process
# ---------------------------------------------------------------------------------------
def bare_function(name: str):
    """The plain computation for ``name``: ``wave (float32, 16 kHz) -> features``."""
    import numpy as np

    if name == "fbank":
        import torch
        import torchaudio.compliance.kaldi as kaldi

        def fbank(wave):
            x = torch.from_numpy(wave * 32768.0).unsqueeze(0)
            return kaldi.fbank(x, num_mel_bins=80, frame_length=25.0, frame_shift=10.0, window_type="hamming",
                               dither=0.0, sample_frequency=16000.0).numpy()
        return fbank
    if name == "logmel":
        import librosa

        def logmel(wave):
            mel = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=800, hop_length=400, win_length=800,
                                                 window="hann", n_mels=128, pad_mode="constant")
            lm = np.log(np.maximum(mel, 1e-10))
            d1 = librosa.feature.delta(lm, width=5, mode="nearest")
            return np.concatenate([lm, d1, librosa.feature.delta(d1, width=5, mode="nearest")]).T
        return logmel
    if name == "pitch":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pyworld

        def pitch(wave):
            x = wave.astype(np.float64)
            f0, t = pyworld.dio(x, 16000, f0_floor=71.0, f0_ceil=800.0, frame_period=10.0)
            return pyworld.stonemask(x, f0, t, 16000)
        return pitch
    raise SystemExit(f"no bare loop for {name}")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children."""
    import resource

    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def child(mode: str, name: str, manifest: str, jobs: int, out_dir: str) -> None:
    """Run one measurement and print ``{"wall": s, "audio": s}`` as JSON."""
    import numpy as np
    import soundfile as sf
    import torch
    from threadpoolctl import threadpool_limits

    from sertool.data.manifest import read_manifest
    from sertool.features.extractors import get_extractor

    torch.set_num_threads(1)
    threadpool_limits(limits=1)  # one core per process, as sertool's workers run
    noise = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    if mode in ("bare", "kernels"):
        if mode == "bare":
            compute = bare_function(name)

            def read(path: str):
                return sf.read(path, dtype="float32")
        else:  # sertool's own reading and extractor, nothing stored: the pipeline's overhead is the rest
            from sertool.audio import read_audio

            compute, read = get_extractor(name).compute, read_audio
        compute(noise)  # warm-up
        utts = read_manifest(manifest)

        def loop(part: int) -> None:
            for u in utts[part::jobs]:
                wave, sr = read(u.audio)
                assert sr == 16000, "the bare loop expects 16 kHz audio"
                compute(wave)

        audio = sum(u.duration for u in utts)
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        if jobs == 1:
            loop(0)
        else:  # the machine's own parallel ceiling: the bare loop split over forked processes
            import multiprocessing

            procs = [multiprocessing.get_context("fork").Process(target=loop, args=(i,)) for i in range(jobs)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        wall = time.perf_counter() - start
    else:
        from sertool.features.pipeline import extract_features

        get_extractor(name)(noise, 16000)  # warm-up (forked workers inherit it)
        audio = sum(u.duration for u in read_manifest(manifest))
        cpu_before = cpu_seconds()
        start = time.perf_counter()
        extract_features([Path(manifest)], Path(out_dir), name, config=None, jobs=jobs, force=True)
        wall = time.perf_counter() - start
    print(json.dumps({"wall": wall, "audio": audio, "cpu": cpu_seconds() - cpu_before}))


# ---------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------
def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (via /proc/<pid>/task/<tid>/children: no full /proc scan)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def tree_memory(pid: int) -> tuple[int, int]:
    """Summed RSS and PSS (bytes) of ``pid`` and all its descendants.

    RSS counts pages a forked worker shares with its parent in both; PSS splits shared pages
    between the processes sharing them, so its sum is the memory the tree really occupies.
    """
    rss = pss = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            continue
    return rss, pss


def run_sampled(cmd: list[str], interval: float, env: dict | None = None) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd`` to its end, sampling its process tree's memory every ``interval`` seconds.

    Returns the finished process (stdout, stderr as text) and ``{"process_wall", "peak_rss",
    "peak_pss"}``. Sparse sampling keeps the cost of reading smaps off the measured cores.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0, 0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss, pss = tree_memory(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    finished = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    return finished, {"process_wall": wall, "peak_rss": peak[0], "peak_pss": peak[1]}


def measure(args: list[str]) -> dict:
    """Run a child measurement, sampling its process tree's memory; return its JSON plus peaks."""
    proc, mem = run_sampled([sys.executable, __file__, "--child", *args], interval=0.25)
    if proc.returncode != 0:
        raise SystemExit(f"measurement {args} failed")
    peaks = {k: mem[k] for k in ("peak_rss", "peak_pss")}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), **peaks}


def fmt(r: dict) -> str:
    return (f"{r['wall']:.2f} s ({r['cpu']:.2f} s CPU), {r['audio'] / r['wall']:.0f}×, "
            f"{r['peak_rss'] / 2**20:.0f}/{r['peak_pss'] / 2**20:.0f} MB")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {system}"


def run(manifest: str, extractors: list[str], jobs: list[int], repeats: int) -> str:
    """All measurements as a Markdown table, keeping the fastest of ``repeats`` runs of each.

    Runs are interleaved (bare, -j1, -j2, bare, ...) so that load from other processes drifts
    over all of them alike.
    """
    par = [j for j in jobs if j > 1]
    header = ["extractor", "audio (s)", "bare loop, 1 process"] + [f"bare loop, {j} processes" for j in par] + \
             ["sertool kernels, 1 process"] + [f"sertool --jobs {j}" for j in jobs] + \
             [f"bare ×{j} vs bare" for j in par] + ["kernels vs bare"] + [f"-j{j} vs bare" for j in jobs] + \
             ["-j1 vs kernels"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    with tempfile.TemporaryDirectory(prefix="features-bench-") as tmp:
        for name in extractors:
            modes = [["bare", name, manifest, "1", tmp]] + [["bare", name, manifest, str(j), tmp] for j in par] + \
                    [["kernels", name, manifest, "1", tmp]] + \
                    [["sertool", name, manifest, str(j), f"{tmp}/{name}-j{j}"] for j in jobs]
            best: list[dict | None] = [None] * len(modes)
            for _ in range(repeats):
                for i, mode in enumerate(modes):
                    # every run starts from the same I/O state: no earlier output to delete, and
                    # no dirty pages of earlier runs being written back while it is timed
                    if mode[0] == "sertool":
                        shutil.rmtree(mode[4], ignore_errors=True)
                    os.sync()
                    r = measure(mode)
                    if best[i] is None or r["wall"] < best[i]["wall"]:
                        best[i] = r
            bare, *others = best
            kernels = others[len(par)]

            def ratio(a: dict, b: dict) -> str:
                return f"{a['wall'] / b['wall']:.2f}× wall, {a['cpu'] / b['cpu']:.2f}× CPU"

            ratios = [ratio(o, bare) for o in others]
            if 1 in jobs:
                ratios.append(ratio(others[len(par) + 1 + jobs.index(1)], kernels))
            rows.append("| " + " | ".join([name, f"{bare['audio']:.0f}", fmt(bare), *map(fmt, others), *ratios]) + " |")
            print(rows[-1], flush=True)
    return "\n".join(rows)


def make_corpus(root: Path, minutes: float) -> Path:
    """A synthetic 16 kHz corpus (harmonic 'voiced' halves + noise pauses, 2–7 s clips, 10 speakers)."""
    from sertool.testing.audio import make_corpus as generate

    num = max(1, int(minutes * 60 / 4.5))
    return generate(root, num_utts=num, speakers=10, seconds=(2.0, 7.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", nargs="?")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--extractors", nargs="+", default=list(BENCH_EXTRACTORS))
    parser.add_argument("--repeats", type=int, default=1, help="runs per measurement; the fastest is kept")
    parser.add_argument("--make-corpus", type=Path, help="write a synthetic corpus here and benchmark it")
    parser.add_argument("--minutes", type=float, default=30.0, help="audio minutes of --make-corpus")
    parser.add_argument("--child", nargs=5, metavar=("MODE", "NAME", "MANIFEST", "JOBS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, name, manifest, jobs, out = args.child
        child(mode, name, manifest, int(jobs), out)
        return
    manifest = str(make_corpus(args.make_corpus, args.minutes)) if args.make_corpus else args.manifest
    if not manifest:
        parser.error("give a MANIFEST or --make-corpus DIR")
    print(f"manifest: {manifest}\nmachine: {machine()}\nload average before: {os.getloadavg()[0]:.2f}\n")
    table = run(manifest, args.extractors, args.jobs, args.repeats)
    print(f"\nload average after: {os.getloadavg()[0]:.2f}\n\n" + table)


if __name__ == "__main__":
    main()
