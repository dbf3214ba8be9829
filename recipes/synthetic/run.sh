#!/usr/bin/env bash
# The synthetic recipe: an eSpeak NG emotional speech corpus, end to end on a CPU.
#   prep → features (log-mel + Δ + ΔΔ) → train (self-attentional CNN-BLSTM + gender task)
#   → eval (WA/UA per fold, mean ± std) → infer (clips of held-out speakers).
# Usage: bash recipes/synthetic/run.sh [--stage N] [--stop-stage N] [--conf conf/X.yaml] [--force true]
# Every stage skips itself when its output is up to date; --force true redoes the stages run.

stage=1
stop_stage=5
force=false
conf=conf/sa_cnn_blstm.yaml
speakers=8
per_class=30
jobs=2

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
. "$here/../_shared/common.sh"

tag=$(basename "$conf" .yaml)
exp=exp/$tag

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "stage 1: synthesise the corpus into data/synthetic"
  sertool prep synthetic data/synthetic --speakers $speakers --per-class $per_class --jobs $jobs $(flag force)
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: log-mel + deltas (STFT 800 / hop 400) into feats/logmel"
  sertool features data/synthetic/manifest.jsonl feats/logmel --extractor logmel --jobs $jobs $(flag force)
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: train $conf on every fold into $exp, $jobs folds at a time"
  sertool train "$conf" --exp-dir "$exp" --jobs $jobs $(flag force)
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: evaluate $exp on held-out speakers"
  sertool eval "$exp"
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "stage 5: infer on two test clips (the first and the last) of the held-out speakers of the best fold"
  sertool infer "$exp" --held-out 2
fi
log "done"
