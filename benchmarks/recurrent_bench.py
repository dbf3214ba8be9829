"""Speed and memory of a GRU training step on a CPU: sertool's scan against PyTorch's ``nn.GRU``.

SpeechEQ's encoder (speecheq.txt §2.3) puts a bidirectional GRU in each of its three SE-Res2Blocks;
on a CPU, autograd differentiates ``nn.GRU`` step by step, and the GRUs take most of a training
step. sertool trains them through :func:`sertool.layers.recurrent.gru_scan` (the same layer, its
backward written by hand). One child process per setting and implementation measures, median of
``--repeats`` after one warm-up, the seconds per step and the memory a step adds: the process's
peak resident memory during the steps (``VmHWM``, reset through ``/proc/self/clear_refs`` before
them) above its resident memory before them:

1. **the layer**: forward and backward of one bidirectional GRU on a batch of ragged sequences
   (lengths drawn uniformly in [0.7, 1] × T with a fixed seed), ``nn.GRU`` on packed sequences
   (what ``run_packed`` ran before) against the scan;
2. **the encoder**: a training step (forward, backward, Adam) of the synthetic recipe's ECAPA-TDNN
   + Res-BiGRU (``recipes/synthetic/conf/speecheq.yaml``: C = 48, 116 frames, batch 32) with its
   GRUs run either way.

Sizes: the synthetic recipe's (C = 48: 24 units each way, 116 frames of 25 ms) and the paper's
(C = 256: 128 units each way, 300 frames of 10 ms, batch 32). Ratios are measured in one run, the
implementations alternating.

Usage:
    python benchmarks/recurrent_bench.py [--repeats 5] [--threads 1]
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
from features_bench import machine  # noqa: E402  (a sibling script)

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
SETTINGS = {  # name: (what, channels C, frames T, batch N)
    "synthetic layer": ("layer", 48, 116, 32),
    "paper layer": ("layer", 256, 300, 32),
    "synthetic encoder": ("encoder", 48, 116, 32),
}


# ---------------------------------------------------------------------------------------
# inside the measured child process
# ---------------------------------------------------------------------------------------
def child(what: str, channels: int, frames: int, batch: int, scan: bool, repeats: int, threads: int) -> None:
    import torch

    from sertool.layers import masking

    torch.set_num_threads(threads)
    if not scan:  # nn.GRU on packed sequences, as run_packed ran every GRU before the scan
        masking.scan_applies = lambda rnn, x: False
    gen = torch.Generator().manual_seed(0)
    lengths = (frames * (0.7 + 0.3 * torch.rand(batch, generator=gen))).long()
    lengths[0] = frames
    torch.manual_seed(0)
    if what == "layer":
        gru = torch.nn.GRU(channels, channels // 2, batch_first=True, bidirectional=True)
        x = torch.randn(batch, frames, channels, requires_grad=True)

        def step() -> None:
            masking.run_packed(gru, x, lengths).square().mean().backward()
    else:
        from sertool.models.ecapa_tdnn import ECAPATDNN

        model = ECAPATDNN(input_dim=384, channels=channels, scale=8, se_bottleneck=16, attn_bottleneck=16,
                          embed_dim=192)
        head = torch.nn.Linear(3 * channels, 86)
        opt = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-3)
        feats = torch.randn(batch, frames, 384)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            out = model(feats, lengths)
            (out["pooled"].square().mean() + head(out["frames"]).logsumexp(-1).mean()).backward()
            opt.step()

    step()  # warm-up
    Path("/proc/self/clear_refs").write_text("5")  # the peak resident size restarts from here
    before = status_kb("VmRSS")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(times), "step_mb": (status_kb("VmHWM") - before) / 1024}))


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` memory field in kB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(field + ":"))
    return int(line.split()[1])


# ---------------------------------------------------------------------------------------
# the parent: one child per measurement
# ---------------------------------------------------------------------------------------
def measure(setting: str, scan: bool, repeats: int, threads: int) -> dict:
    what, channels, frames, batch = SETTINGS[setting]
    cmd = [sys.executable, __file__, "--child", what, str(channels), str(frames), str(batch), str(int(scan)),
           str(repeats), str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"{setting}: the child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        what, c, t, n, scan, repeats, threads = args.child
        child(what, int(c), int(t), int(n), bool(int(scan)), int(repeats), int(threads))
        return
    print(f"machine: {machine()}; torch threads: {args.threads}; median of {args.repeats} steps\n")
    print("| setting | C, T, N | nn.GRU (packed): s/step | scan: s/step | speed-up | step memory nn.GRU | "
          "step memory scan |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for setting, (_what, c, t, n) in SETTINGS.items():
        base = measure(setting, False, args.repeats, args.threads)
        scan = measure(setting, True, args.repeats, args.threads)
        print(f"| {setting} | {c}, {t}, {n} | {base['seconds']:.4f} | {scan['seconds']:.4f} | "
              f"{base['seconds'] / scan['seconds']:.2f}× | {base['step_mb']:.0f} MB | {scan['step_mb']:.0f} MB |",
              flush=True)


if __name__ == "__main__":
    main()
