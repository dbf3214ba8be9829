#!/usr/bin/env bash
# The synthetic recipe: an eSpeak NG emotional speech corpus, end to end on a CPU.
#   prep → features (log-mel + Δ + ΔΔ) → train (self-attentional CNN-BLSTM + gender task)
#   → eval (WA/UA per fold, mean ± std) → infer (clips of held-out speakers).
# Usage: bash recipes/synthetic/run.sh [--stage N] [--stop-stage N] [--force]
# Every stage skips itself when its output is up to date; --force redoes the stages run.
set -euo pipefail

stage=1
stop_stage=5
force=
conf=conf/sa_cnn_blstm.yaml
speakers=8
per_class=30
jobs=2

log() { echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[0]##*/}:${BASH_LINENO[0]}) $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage|--stop_stage) stop_stage=$2; shift 2 ;;
    --conf) conf=$2; shift 2 ;;
    --force) force=--force; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$(bash "$here/../../tools/env.sh")
sertool() { "$python" -m sertool "$@"; }
cd "$here"
tag=$(basename "$conf" .yaml)
exp=exp/$tag

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: synthesise the corpus into data/synthetic"
  sertool prep synthetic data/synthetic --speakers $speakers --per-class $per_class --jobs $jobs $force
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: log-mel + deltas (STFT 800 / hop 400) into feats/logmel"
  sertool features data/synthetic/manifest.jsonl feats/logmel --extractor logmel --jobs $jobs $force
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: train $conf on every fold into $exp"
  sertool train "$conf" --exp-dir "$exp" $force
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: evaluate $exp on held-out speakers"
  sertool eval "$exp"
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "stage 5: infer on two test clips of held-out speakers"
  clips=$("$python" - "$exp" <<'PY'
import json, sys
from pathlib import Path
from sertool.inference import find_bundle
from sertool.train.checkpoint import load_checkpoint
bundle = load_checkpoint(find_bundle(sys.argv[1]))
folds = json.load(open("data/synthetic/folds.json"))["folds"]
test = next(f["test"] for f in folds if f["name"] == bundle["fold"])
audio = {u["id"]: u["audio"] for u in map(json.loads, open("data/synthetic/manifest.jsonl"))}
print(" ".join(audio[i] for i in (test[0], test[-1])))
PY
)
  sertool infer "$exp" $clips
fi
log "done"
