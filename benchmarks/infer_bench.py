"""Benchmark of ``sertool infer``: throughput against the bare model, cold start against ``import torch``, memory.

Everything is measured in one run, each measurement in a fresh process, interleaved over the
repeats so that load from elsewhere drifts over all of them alike; the table keeps the fastest
repeat of each mode, and ratios are also given repeat by repeat (measured within a minute):

* **throughput** on a folder of synthetic clips (``--clips``, 2–7 s, 16 kHz WAV) with the
  paper-sized SA-CNN-BLSTM on log-mels (trained one epoch on tones: the weights do not matter):

  - ``bare forward``: the model alone on the very batches the pipeline makes (built beforehand,
    not timed), with the threads the pipeline gives the model (``--all-cores``: also with every core);
  - ``pipeline``: :meth:`Predictor.predict_files` on the folder (headers, length grouping,
    decoding and log-mels in ``--jobs`` worker processes, the model, records serialised as JSON),
    after loading the model (not timed);
  - ``one at a time``: :meth:`Predictor.predict_file` for each clip in turn (the model with the
    pipeline's threads): what answering clip by clip costs;
  - ``decoding + features alone`` (one thread) and the ``--jobs 0`` pipeline (all in one
    process): the work the workers take off the model's process, and what it costs when not
    overlapped;

  reported as wall seconds, clips per second and real-time factor (processing seconds per
  second of audio), the pipeline's wall time as a multiple of the bare forward's (goal: 1.25×);
* **cold start**: ``python -m sertool infer EXP clip.wav`` (one 3 s clip) against
  ``python -c "import torch"``, ``--cold`` interleaved pairs; medians and minima (goal: 1.5×);
* **imports**: where ``python -X importtime -m sertool infer EXP clip.wav`` spends its import
  time: torch, and everything else (its largest top-level imports named);
* **long recordings**: ``sertool infer EXP long.wav`` on a 2-minute and a 20-minute recording
  (written with soundfile in blocks), by default (windows of the training length) and with
  ``--segment 4 --hop 2``, in one process (``--jobs 0``) and with one worker: wall time and peak
  RSS/PSS of the process tree (sampled from /proc every 100 ms), which should not grow with the
  recording's length.

Usage:
    python benchmarks/infer_bench.py [--work /tmp/infer-bench] [--clips 300] [--repeats 5] [--cold 5]
                                     [--jobs N] [--batch-size 16] [--all-cores]

Example output row (see benchmarks/RESULTS.md for a full run):
    | pipeline, --jobs 1, 1 model thread(s) | 300 | 1329 | 3.45 s | 87.0 | 0.0026 | 1039/554 MB |
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_bench import machine, run_sampled  # noqa: E402  (a sibling script)

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


# ---------------------------------------------------------------------------------------
# inside the measured child process
# ---------------------------------------------------------------------------------------
def child(mode: str, exp: str, clips: str, batch_size: int, jobs: int, threads: int) -> None:
    import torch

    from sertool.inference import Predictor
    from sertool.inference.pipeline import ClipRef, WindowFeatures, load_item, make_items
    from sertool.inference.records import dumps
    from sertool.inference.sources import expand_inputs

    torch.set_num_threads(threads)
    predictor = Predictor.load(exp, device="cpu")
    sources = expand_inputs([clips])
    predictor.predict_file(sources[0].path)  # warm-up: lazy set-up, first kernels
    plans = predictor.plan(sources)
    audio = sum(p.duration for p in plans)
    out = open(os.devnull, "w")
    if mode == "bare":
        items = make_items(plans, batch_size)  # the pipeline's batches, made before the clock starts
        refs = [ClipRef(p.path, p.sample_rate, p.frames, p.speaker) for p in plans]
        batches = [load_item(refs, WindowFeatures(predictor.specs), item)["inputs"] for item in items]
        start = time.perf_counter()
        with torch.inference_mode():
            for inputs in batches:
                predictor.model(**inputs)
        wall = time.perf_counter() - start
    elif mode in ("pipeline", "pipeline0"):
        start = time.perf_counter()
        workers = jobs if mode == "pipeline" else 0
        for _, records in predictor.run(plans, batch_size=batch_size, workers=workers, threads=threads):
            for r in records:
                out.write(dumps(r) + "\n")
        wall = time.perf_counter() - start
    elif mode == "features":
        items = make_items(plans, batch_size)
        refs = [ClipRef(p.path, p.sample_rate, p.frames, p.speaker) for p in plans]
        features = WindowFeatures(predictor.specs)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads):
            start = time.perf_counter()
            for item in items:
                load_item(refs, features, item)
            wall = time.perf_counter() - start
    elif mode == "single":
        start = time.perf_counter()
        for p in plans:
            out.write(dumps(predictor.predict_file(p.path)) + "\n")
        wall = time.perf_counter() - start
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"wall": wall, "clips": len(plans), "audio": audio}))


# ---------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------
def measure(cmd: list[str]) -> dict:
    """Run ``cmd``, sampling its process tree's memory every 100 ms; wall time, peaks and its last JSON line."""
    proc, mem = run_sampled(cmd, interval=0.1, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    return {**mem, **(json.loads(lines[-1]) if lines else {})}


def import_times(cmd: list[str]) -> dict:
    """Seconds ``cmd`` (run with ``-X importtime``) spends importing torch and everything else.

    importtime prints each module after its imports, indented by depth: a top-level entry's
    cumulative time includes torch when torch was first imported beneath it, so torch's own
    cumulative time is taken off that entry.
    """
    import re

    err = subprocess.run(cmd, capture_output=True, text=True, env=ENV).stderr
    torch_s, pending, top = 0.0, 0.0, {}
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( +)(\S+)", line)
        if not m:
            continue
        seconds, depth, name = int(m[1]) / 1e6, len(m[2]), m[3]
        if name == "torch":
            torch_s += seconds
            pending += seconds
        if depth == 1:  # a top-level import ends: it holds the torch import seen since the last one
            top[name] = top.get(name, 0.0) + seconds - pending
            pending = 0.0
    largest = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:4])
    return {"torch": torch_s, "rest": sum(top.values()), "largest": largest}


def prepare(work: Path, clips: int) -> dict[str, Path]:
    """The model, the folder of clips and the long recordings (made once per work directory)."""
    import soundfile as sf

    from sertool.testing.audio import harmonic_tone, make_corpus
    from sertool.testing.inference import train_tiny_model, write_long_recording

    paths = {"exp": work / "model" / "exp", "clips": work / f"clips{clips}", "one": work / "one.wav",
             "long2": work / "long2.wav", "long20": work / "long20.wav"}
    if not list(paths["exp"].glob("fold-*/checkpoints/best.pt")):
        print("training the paper-sized SA-CNN-BLSTM for one epoch on tones ...", file=sys.stderr)
        train_tiny_model(work / "model", max_seconds=7.5, encoder_conf={})
    if not paths["clips"].is_dir():
        make_corpus(paths["clips"], num_utts=clips, speakers=4, seconds=(2.0, 7.0), seed=1)
    if not paths["one"].is_file():
        sf.write(paths["one"], harmonic_tone(160.0, 3.0, vibrato=8.0), 16000)
    for key, minutes in (("long2", 2), ("long20", 20)):
        if not paths[key].is_file():
            write_long_recording(paths[key], 60 * minutes, block_seconds=10.0)
    return paths


def row(name: str, r: dict) -> str:
    return (f"| {name} | {r['clips']} | {r['audio']:.0f} | {r['wall']:.2f} s | {r['clips'] / r['wall']:.1f} | "
            f"{r['wall'] / r['audio']:.4f} | {r['peak_rss'] / 2**20:.0f}/{r['peak_pss'] / 2**20:.0f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/infer-bench"))
    parser.add_argument("--clips", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=None, help="pipeline workers (default: sertool's choice)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cold", type=int, default=5, help="cold-start pairs")
    parser.add_argument("--all-cores", action="store_true", help="also the bare forward with every core")
    parser.add_argument("--child", nargs=6, metavar=("MODE", "EXP", "CLIPS", "BATCH", "JOBS", "THREADS"))
    args = parser.parse_args()
    if args.child:
        mode, exp, clips, batch, jobs, threads = args.child
        child(mode, exp, clips, int(batch), int(jobs), int(threads))
        return

    sys.path.insert(0, str(REPO))
    from sertool.inference.pipeline import cores, default_workers

    paths = prepare(args.work, args.clips)
    jobs = default_workers() if args.jobs is None else args.jobs
    model_threads = max(1, cores() - jobs)
    exp, clips = str(paths["exp"]), str(paths["clips"])

    def bench(mode: str, threads: int) -> list[str]:
        return [sys.executable, __file__, "--child", mode, exp, clips, str(args.batch_size), str(jobs), str(threads)]

    runs: dict[str, list[dict]] = {}
    t = model_threads
    modes = {"bare": (f"bare forward, {t} thread(s) (the pipeline's)", bench("bare", t)),
             "pipeline": (f"pipeline, --jobs {jobs}, {t} model thread(s)", bench("pipeline", t)),
             "inline": (f"pipeline, --jobs 0, {t} thread(s)", bench("pipeline0", t)),
             "features": ("decoding + features alone, 1 thread", bench("features", 1)),
             "single": (f"one at a time (predict_file), {t} thread(s)", bench("single", t))}
    if args.all_cores and cores() > t:
        modes["bare_all"] = (f"bare forward, {cores()} threads", bench("bare", cores()))
    for r in range(args.repeats):
        for key, (name, cmd) in modes.items():
            print(f"repeat {r + 1}/{args.repeats}: {name}", file=sys.stderr)
            runs.setdefault(key, []).append(measure(cmd))
    best = {key: min(rs, key=lambda x: x["wall"]) for key, rs in runs.items()}

    cold_torch, cold_infer = [], []
    infer_cmd = [sys.executable, "-m", "sertool", "infer", exp, str(paths["one"]), "--device", "cpu"]
    for _ in range(args.cold):
        cold_torch.append(measure([sys.executable, "-c", "import torch"])["process_wall"])
        cold_infer.append(measure(infer_cmd)["process_wall"])

    imports = import_times([*infer_cmd[:1], "-X", "importtime", *infer_cmd[1:]])

    long_rows = []
    for jobs_long in ("0", "1"):
        for extra in ([], ["--segment", "4", "--hop", "2"]):
            for key, seconds in (("long2", 120), ("long20", 1200)):
                r = measure([sys.executable, "-m", "sertool", "infer", exp, str(paths[key]), "--device", "cpu",
                             "--jobs", jobs_long, "--threads", "1", "--output", os.devnull, *extra])
                name = f"{seconds // 60} min, --jobs {jobs_long}{' ' + ' '.join(extra) if extra else ''}"
                long_rows.append((name, seconds, r))

    def paired(a: str, b: str) -> list[float]:
        """``a``'s wall over ``b``'s, repeat by repeat (measured a minute apart at most)."""
        return [x["wall"] / y["wall"] for x, y in zip(runs[a], runs[b])]

    def ratios(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}×" for v in values)

    pipe_bare = paired("pipeline", "bare")
    inline_sum = [i["wall"] / (b["wall"] + f["wall"])
                  for i, b, f in zip(runs["inline"], runs["bare"], runs["features"])]
    lines = [f"Machine: {machine()}; torch {__import__('torch').__version__}; "
             f"{args.clips} clips, batch size {args.batch_size}; fastest of {args.repeats} interleaved repeats.",
             "", "| mode | clips | audio (s) | wall | clips/s | real-time factor | peak RSS/PSS |",
             "|---|---|---|---|---|---|---|"]
    lines += [row(name, best[key]) for key, (name, _) in modes.items()]
    lines += ["", f"- pipeline / bare forward (same threads), repeat by repeat: {ratios(pipe_bare)}; median "
                  f"**{statistics.median(pipe_bare):.2f}×**, best {min(pipe_bare):.2f}× (goal ≤ 1.25×)",
              f"- batched pipeline vs one at a time: {best['single']['wall'] / best['pipeline']['wall']:.2f}× faster "
              f"(fastest runs)",
              f"- in-process pipeline / (bare forward + decoding and features), repeat by repeat: "
              f"{ratios(inline_sum)} (what the workers overlap with the model)"]
    if "bare_all" in best:
        lines.append(f"- pipeline / bare forward on every core: "
                     f"{best['pipeline']['wall'] / best['bare_all']['wall']:.2f}× (fastest runs)")
    lines += [
              "", "| cold start | median | min | runs |", "|---|---|---|---|",
              f"| `python -c \"import torch\"` | {statistics.median(cold_torch):.2f} s | {min(cold_torch):.2f} s | "
              + ", ".join(f"{t:.2f}" for t in cold_torch) + " |",
              f"| `python -m sertool infer EXP one.wav` (3 s clip) | {statistics.median(cold_infer):.2f} s | "
              f"{min(cold_infer):.2f} s | " + ", ".join(f"{t:.2f}" for t in cold_infer) + " |",
              "", "- sertool infer / import torch: "
                  f"**{statistics.median(cold_infer) / statistics.median(cold_torch):.2f}×** by medians, "
                  f"{min(cold_infer) / min(cold_torch):.2f}× by minima (goal ≤ 1.5×); pair by pair: "
              + ratios([i / t for i, t in zip(cold_infer, cold_torch)]),
              f"- `python -X importtime -m sertool infer EXP one.wav`: torch {imports['torch']:.2f} s, everything "
              f"else {imports['rest']:.2f} s (largest: {imports['largest']})",
              "", "| long recording | audio (s) | wall (process) | × real time | peak RSS/PSS |",
              "|---|---|---|---|---|"]
    for name, seconds, r in long_rows:
        lines.append(f"| {name} | {seconds} | {r['process_wall']:.2f} s | {seconds / r['process_wall']:.0f}× | "
                     f"{r['peak_rss'] / 2**20:.0f}/{r['peak_pss'] / 2**20:.0f} MB |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
