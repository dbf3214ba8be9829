"""Speed of sertool's SSL encoder: wav2vec 2.0 base (random weights) on 4.55 s clips.

Three measurements in one process, on one device:

1. **matmul ceiling**: fp32 ``torch.mm`` of square matrices (2048 on CPU, 8192 on CUDA), the best
   of ``--repeats``: this machine's achievable FLOP/s, the yardstick for the rest;
2. **inference**: sertool's SSL-MTL model (``wav2vec2`` encoder, ``model: wav2vec2_base``, no
   weights: random; emotion, gender, speaker and character-CTC heads) in eval mode on 4.55 s clips
   (IEMOCAP's mean duration; the paper's Table 2 gives 35.44 GFLOPs and 5.81 ms per utterance on
   an RTX 4080), at batch 1 and at batch ``--batch``: seconds per clip, FLOPs per clip counted by
   ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add; convolutions and matrix
   products), achieved FLOP/s and its fraction of the matmul ceiling;
3. **training step**: forward, backward and AdamW step on a batch of ``--batch`` clips with the
   four heads and their losses (freeze: cnn, SpecAugment p = 0.05, the base builder's dropouts,
   layer drop off so that every step runs all 12 layers), against the same step with Hugging
   Face's ``Wav2Vec2Model`` (its default configuration is the same base architecture, with layer
   drop off too; ``freeze_feature_encoder()``; the same heads and losses on its mean-pooled and
   frame outputs). The ratio sertool / transformers is printed.

Every timing is the median of ``--repeats`` after one warm-up (the two training steps timed
alternately); clips in a batch have the same length (no padding), so neither model pays for
masks it does not need.

``--data-pass`` measures instead the training data path of an audio model (no model step):
48 kHz WAV clips of 2–7 s decoded, resampled to 16 kHz, cut at 15 s and collated in dynamic
batches of 60 padded seconds, through sertool's dataset, sampler and loader, in a child process
whose tree's peak RSS/PSS is sampled. Two runs draw the same number of clips (as many as 100
epochs of the smaller corpus): 100 epochs over ``--clips`` clips, and 25 epochs over 4 × as many.
Bounded memory means the same peak for both; the clips per second are printed beside real time.

Usage:
    python benchmarks/ssl_bench.py [--device cpu|cuda] [--batch 8] [--repeats 3] [--threads N]
    python benchmarks/ssl_bench.py --data-pass [--clips 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from features_bench import run_sampled  # noqa: E402  (a sibling script)

SECONDS = 4.55
RATE = 16000


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(a, b, device: torch.device, repeats: int) -> tuple[float, float]:
    """Median seconds of ``a()`` and of ``b()``, timed alternately (a machine whose speed drifts
    favours neither)."""
    times: tuple[list[float], list[float]] = ([], [])
    for fn in (a, b):
        fn()  # warm-up
    sync(device)
    for _ in range(repeats):
        for fn, out in zip((a, b), times):
            start = time.perf_counter()
            fn()
            sync(device)
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def matmul_flops(device: torch.device) -> float:
    """The best of 10 fp32 square matrix products."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = min(timed(lambda: torch.mm(a, b), device, 1) for _ in range(10))
    return 2 * n**3 / best


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def tasks_conf() -> dict:
    speakers = [f"iemocap/Ses0{i // 2 + 1}{'FM'[i % 2]}" for i in range(10)]
    return {"emotion": {"type": "emotion", "label_set": "iemocap4"}, "gender": {"type": "gender"},
            "speaker": {"type": "speaker", "speakers": speakers},
            "chars": {"type": "ctc", "inventory": "char32", "field": "text"}}


def labels(model, batch: int, frames: int, device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    chars = 60  # about 13 characters per second of speech
    out = {"emotion": {"target": torch.randint(0, 4, (batch,), generator=g)},
           "gender": {"target": torch.randint(0, 2, (batch,), generator=g)},
           "speaker": {"target": torch.randint(0, 10, (batch,), generator=g)},
           "chars": {"tokens": torch.randint(0, 32, (batch, chars), generator=g),
                     "token_lengths": torch.full((batch,), chars)}}
    assert frames > chars
    return {t: {k: v.to(device) for k, v in d.items()} for t, d in out.items()}


def data_pass_child(root: Path, clips: int, epochs: int) -> None:
    """Run ``epochs`` epochs of the audio data path over ``clips`` clips; print JSON."""
    from sertool.data.folds import Fold, write_folds
    from sertool.data.manifest import read_manifest
    from sertool.models.ssl import TINY_ARCH
    from sertool.testing.audio import make_corpus
    from sertool.train.config import build_config
    from sertool.train.distributed import init_distributed
    from sertool.train.sources import load_experiment_data
    from sertool.train.trainer import FoldTrainer

    manifest = make_corpus(root, num_utts=clips, speakers=4, sample_rate=48000, seconds=(2.0, 7.0))
    utts = read_manifest(manifest)
    write_folds(root / "folds.json", "leave-one-speaker-out",
                [Fold("s0", train=[u.id for u in utts if not u.speaker.endswith("s0")],
                      test=[u.id for u in utts if u.speaker.endswith("s0")])])
    conf = {"data": {"manifests": [str(manifest)], "folds": str(root / "folds.json"), "max_seconds": 15.0},
            "model": {"encoder": "wav2vec2", "encoder_conf": {"arch_conf": TINY_ARCH}},
            "tasks": {"gender": {"type": "gender"}},
            "train": {"epochs": epochs, "batch_size": 64, "batch_seconds": 60.0, "main_task": "gender",
                      "tensorboard": False, "threads": 1}}
    tr = FoldTrainer(build_config(conf), load_experiment_data(build_config(conf)), 0, root / "exp",
                     init_distributed("cpu"), log=lambda _m: None)
    start, items, seconds, padded = time.perf_counter(), 0, 0.0, 0.0
    for epoch in range(epochs):
        tr.train_set.set_epoch(epoch)
        for batch in tr._loader(tr.train_set, tr.sampler.batches(epoch)):
            lengths = batch["inputs"]["waveform_lengths"]
            items += len(lengths)
            seconds += float(lengths.sum()) / RATE
            padded += float(len(lengths) * lengths.max()) / RATE
    wall = time.perf_counter() - start
    print(json.dumps({"clips": clips, "epochs": epochs, "items": items, "audio_s": seconds, "wall": wall,
                      "padding": padded / seconds - 1}))


def data_pass(clips: int) -> None:
    """Parent of the two data-pass runs: peak memory of each, sampled from outside."""
    print("| corpus | epochs | clips drawn | clips/s | × real time | padding | peak RSS | peak PSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for n, epochs in ((clips, 100), (4 * clips, 25)):
        with tempfile.TemporaryDirectory() as d:
            proc, mem = run_sampled([sys.executable, __file__, "--data-pass-child", d, str(n), str(epochs)], 0.25)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {n} clips | {epochs} | {r['items']} | {r['items'] / r['wall']:.0f} | "
              f"{r['audio_s'] / r['wall']:.0f} | {r['padding']:.1%} | {mem['peak_rss'] / 2**20:.0f} MB | "
              f"{mem['peak_pss'] / 2**20:.0f} MB |")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--data-pass-child":
        return data_pass_child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--data-pass", action="store_true", help="measure the audio data path's memory instead")
    parser.add_argument("--clips", type=int, default=100, help="--data-pass: clips of the smaller corpus")
    args = parser.parse_args()
    if args.data_pass:
        return data_pass(args.clips)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    from sertool.models.multitask import MultiTaskModel

    samples = int(SECONDS * RATE)
    peak = matmul_flops(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; fp32 matmul ceiling {peak / 1e9:.1f} GFLOP/s")

    torch.manual_seed(0)
    # layer drop off (here and in transformers): both run all 12 layers at every step
    enc_conf = {"model": "wav2vec2_base", "freeze": "cnn", "mask_time_prob": 0.05,
                "arch_conf": {"encoder_layer_drop": 0.0}}
    model = MultiTaskModel.build("wav2vec2", enc_conf, tasks_conf()).to(device).eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"sertool SSL-MTL model: {params / 1e6:.1f} M parameters; clips of {SECONDS} s ({samples} samples)")
    print()
    print("| run | batch | s per clip | GFLOPs per clip | achieved GFLOP/s | of matmul ceiling |")
    print("| --- | --- | --- | --- | --- | --- |")
    for batch in sorted({1, args.batch}):
        wave = torch.randn(batch, samples, device=device)
        lengths = torch.full((batch,), samples, device=device)

        def infer(wave=wave, lengths=lengths):
            with torch.no_grad():  # (FlopCounterMode cannot see weight-normed convolutions in inference_mode)
                return model(waveform=wave, waveform_lengths=lengths)

        seconds = timed(infer, device, args.repeats)
        flops = count_flops(infer)
        rate = flops / seconds
        print(f"| inference | {batch} | {seconds / batch:.4f} | {flops / batch / 1e9:.2f} | {rate / 1e9:.1f} | "
              f"{rate / peak:.0%} |")
    if args.skip_train:
        return

    # -- a training step: sertool vs transformers -------------------------------------------------
    import transformers
    from torch import nn

    batch = args.batch
    wave = torch.randn(batch, samples, device=device)
    lengths = torch.full((batch,), samples, device=device)
    model.train()
    frames = model.encoder(waveform=wave[:1], waveform_lengths=lengths[:1])["frames"].shape[1]
    target = labels(model, batch, frames, device)

    def step_of(forward, net: nn.Module, heads: nn.ModuleDict):
        opt = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-5)

        def step():
            opt.zero_grad(set_to_none=True)
            preds = forward()
            loss = sum(task.loss(preds[name], target[name]) for name, task in heads.items())
            loss.backward()
            opt.step()

        return step

    ours = step_of(lambda: model(waveform=wave, waveform_lengths=lengths), model, model.tasks)

    torch.manual_seed(0)
    hf = transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(mask_time_prob=0.05, layerdrop=0.0)).to(device).train()
    hf.freeze_feature_encoder()
    hf_heads = MultiTaskModel.build("wav2vec2", {**enc_conf, "arch_conf": {"encoder_num_layers": 1}},
                                    tasks_conf()).tasks.to(device)  # the same heads (768 inputs)

    class HFModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.hf, self.tasks = hf, hf_heads

        def forward(self):
            h = self.hf(wave).last_hidden_state  # (N, T, 768)
            enc_out = {"pooled": h.mean(1), "frames": h,
                       "frame_lengths": torch.full((batch,), h.shape[1], device=device)}
            return {name: task(enc_out) for name, task in self.tasks.items()}

    hf_model = HFModel()
    theirs = step_of(hf_model, hf_model, hf_heads)
    t_ours, t_theirs = interleaved(ours, theirs, device, args.repeats)
    peak_after = matmul_flops(device)
    print(f"\nfp32 matmul ceiling measured again after the runs: {peak_after / 1e9:.1f} GFLOP/s")
    print()
    print("| training step (batch, 4.55 s clips) | seconds | clips per second |")
    print("| --- | --- | --- |")
    print(f"| sertool wav2vec2 (torchaudio) + SSL-MTL heads, {batch} | {t_ours:.3f} | {batch / t_ours:.2f} |")
    print(f"| transformers Wav2Vec2Model + the same heads, {batch} | {t_theirs:.3f} | {batch / t_theirs:.2f} |")
    print(f"\nratio sertool / transformers: {t_ours / t_theirs:.2f}")


if __name__ == "__main__":
    main()
