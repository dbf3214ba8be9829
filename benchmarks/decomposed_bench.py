"""Speed and memory of the decomposed-speech pre-training step at the paper's sizes.

decomposed_speech_mtl.txt §3.1: the decomposition model (SpeechSplit's widths: rhythm 128, content
3 × 512, pitch 3 × 256, decoder 3 × 512 BiLSTM; sertool's timbre encoder) pre-trained on
reconstruction + speaker recognition, Adam, batch 16. One child process per setting (its peak
memory sampled by the shared :func:`features_bench.run_sampled`) measures on one device:

1. **training step**: forward, both losses (ω = 0.1), backward and Adam step on a batch of 16
   whole utterances of IEMOCAP-like lengths (mean 4.55 s, IEMOCAP's, drawn uniformly in
   [0.5, 1.5] × the mean with a fixed seed: 142–426 frames of 16 ms), median of ``--repeats``
   after one warm-up: seconds per step and utterances per second;
2. **random resampling's share**: the time spent in the four ``InterpLnr`` calls of the step
   (forward: plan and gathers; timed inside the step, synchronised), as a share of the step; and,
   including their backward, the step with resampling at factor 1 (segments kept at their lengths,
   so every sequence keeps its length, but the plan drawn and every gather and its backward run)
   against the step with resampling switched off: ``1 − off / factor 1``. (A step with real factors
   runs longer sequences through the content, pitch and decoder BiLSTMs, the longest warped length
   of the batch: that is the model's cost, not the resampling's.) The three steps are timed
   alternately. Goal: under 10 %.

Usage:
    python benchmarks/decomposed_bench.py [--device cpu|cuda] [--batch 16] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_bench import machine, run_sampled  # noqa: E402  (a sibling script)

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
SECONDS = 4.55  # IEMOCAP's mean utterance duration
HOP = 256 / 16000  # SpeechSplit's frame shift


# ---------------------------------------------------------------------------------------
# inside the measured child process
# ---------------------------------------------------------------------------------------
def child(device_name: str, batch: int, repeats: int, threads: int | None) -> None:
    import torch

    from sertool.layers import resample
    from sertool.models.multitask import MultiTaskModel

    if threads:
        torch.set_num_threads(threads)
    device = torch.device(device_name)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    spent = [0.0]
    original = resample.InterpLnr.forward

    def timed_forward(self, xs, lengths):  # the resampling's own time inside the step
        sync()
        start = time.perf_counter()
        out = original(self, xs, lengths)
        sync()
        spent[0] += time.perf_counter() - start
        return out

    resample.InterpLnr.forward = timed_forward

    gen = torch.Generator().manual_seed(0)
    mean = SECONDS / HOP
    lengths = (mean * (0.5 + torch.rand(batch, generator=gen))).round().long()
    t = int(lengths.max())
    mask = (torch.arange(t)[None, :] < lengths[:, None])[..., None].float()
    pitch = torch.nn.functional.one_hot(torch.randint(0, 257, (batch, t), generator=gen), 257).float() * mask
    inputs = {"spectrogram": (torch.rand(batch, t, 80, generator=gen) * mask).to(device),
              "spectrogram_lengths": lengths.to(device), "pitch": pitch.to(device), "pitch_lengths": lengths.to(device)}
    speakers = torch.randint(0, 10, (batch,), generator=gen).to(device)
    present = torch.ones(batch, dtype=torch.bool, device=device)

    def build(resample: dict | None):
        torch.manual_seed(0)
        conf = {} if resample is None else {"resample": resample}
        model = MultiTaskModel.build("decomposition", conf, {
            "speaker": {"type": "speaker", "input": "timbre", "speakers": [f"s{i}" for i in range(10)]},
            "recon": {"type": "reconstruction", "input": "decoder", "target": "spectrogram", "lstm_units": None},
        }).to(device).train()
        return model, torch.optim.Adam(model.parameters(), lr=1e-4)

    models = {"on": build(None), "unit": build({"segment": [19, 32], "factor": [1.0, 1.0]}), "off": build({})}

    def step(which: str) -> None:
        model, opt = models[which]
        opt.zero_grad(set_to_none=True)
        pred = model(**inputs)
        loss = (0.1 * model.tasks["speaker"].loss(pred["speaker"], {"target": speakers})
                + 0.9 * model.tasks["recon"].loss(pred["recon"], {"present": present}))
        loss.backward()
        opt.step()

    for which in models:  # warm-up
        step(which)
    sync()
    times: dict[str, list[float]] = {which: [] for which in models}
    shares = []
    for _ in range(repeats):
        for which in models:  # alternately: a machine whose speed drifts favours neither
            spent[0] = 0.0
            start = time.perf_counter()
            step(which)
            sync()
            times[which].append(time.perf_counter() - start)
            if which == "on":
                shares.append(spent[0] / times[which][-1])
    on, unit, off = (statistics.median(times[k]) for k in ("on", "unit", "off"))
    peak_cuda = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0
    print(json.dumps({"step": on, "step_unit": unit, "step_off": off, "share_forward": statistics.median(shares),
                      "share_unit_off": 1 - off / unit, "frames": lengths.tolist(), "threads": torch.get_num_threads(),
                      "params": sum(p.numel() for p in models["on"][0].parameters()), "peak_cuda": peak_cuda}))


# ---------------------------------------------------------------------------------------
# the parent: one child per device, memory sampled from outside
# ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.device, args.batch, args.repeats, args.threads)
        return
    cmd = [sys.executable, __file__, "--child", "--device", args.device, "--batch", str(args.batch),
           "--repeats", str(args.repeats)] + (["--threads", str(args.threads)] if args.threads else [])
    proc, mem = run_sampled(cmd, interval=0.25, env=ENV)
    if proc.returncode != 0:
        raise SystemExit(f"measurement failed:\n{proc.stderr[-2000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    frames = r["frames"]
    print(f"machine: {machine()}; device {args.device}, {r['threads']} threads; "
          f"{r['params'] / 1e6:.2f} M parameters; batch {args.batch}, {min(frames)}–{max(frames)} frames "
          f"(mean {statistics.mean(frames) * HOP:.2f} s)\n")
    print("| device | s per step | utterances per s | resampling, forward (share of the step) "
          "| step at factor 1 (s) | step without resampling (s) | 1 − without / factor 1 | peak RSS (MB) "
          "| peak CUDA memory (MB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {args.device} | {r['step']:.3f} | {args.batch / r['step']:.2f} | {100 * r['share_forward']:.1f} % "
          f"| {r['step_unit']:.3f} | {r['step_off']:.3f} | {100 * r['share_unit_off']:.1f} % "
          f"| {mem['peak_rss'] / 2**20:.0f} | {r['peak_cuda'] / 2**20:.0f} |")


if __name__ == "__main__":
    main()
