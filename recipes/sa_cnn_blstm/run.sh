#!/usr/bin/env bash
# SA-CNN-BLSTM recipe (sa_cnn_blstm.txt): the self-attentional CNN-BLSTM with and without its gender
# task on IEMOCAP 4 classes (5,531 utterances), leave-one-session-out, Table 2's rows of ours.
#   1 prep (leave-one-session-out, dev set of whole training speakers) → 2 features (log-mel + Δ +
#   ΔΔ, STFT 800 / hop 400) → 3 train every conf/*.yaml → 4 eval (per fold, mean ± std and one
#   confusion matrix pooled over all 5,531 test utterances, Table 3) → 5 gather Table 2's rows.
# Usage: bash recipes/sa_cnn_blstm/run.sh --corpus-dir /data/IEMOCAP_full_release [--stage N]
#        [--stop-stage N] [--confs "conf/full.yaml"] [--device cuda] [--force true]
#        bash recipes/sa_cnn_blstm/run.sh --stand-in true   # dry run: miniature IEMOCAP, tiny settings
# Every stage skips itself when its output is up to date; --force true redoes the stages run.

stage=1
stop_stage=5
force=false
corpus_dir=        # IEMOCAP_full_release
confs=             # the configurations to train (default: every conf/*.yaml, one per table row)
device=auto        # train.device: auto, cpu, cuda, cuda:1, …
jobs=8
stand_in=false     # true: generate a miniature IEMOCAP and run every stage on it with tiny settings

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
. "$here/../_shared/common.sh"
absolute corpus_dir

[ -n "$confs" ] || confs=$(ls conf/*.yaml)
tiny=()
if [ "$stand_in" = true ]; then
  corpus_dir=$stand_in_corpora/IEMOCAP_full_release
  # Tiny settings: one epoch of a network 8 channels/units wide with 2 attention heads of 16.
  tiny=(train.epochs 1 train.threads 1 train.batch_size 8 model.encoder_conf.cnn_channels 8
        model.encoder_conf.lstm_units 8 model.encoder_conf.attn_dim 16 model.encoder_conf.attn_heads 2)
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ "$stand_in" = true ]; then
    log "stage 1: a miniature IEMOCAP into $corpus_dir"
    sertool stand-in iemocap "$corpus_dir" --jobs $jobs
  fi
  [ -n "$corpus_dir" ] || { echo "stage 1 needs --corpus-dir (IEMOCAP_full_release)" >&2; exit 2; }
  log "stage 1: IEMOCAP into data/iemocap, leave-one-session-out, dev set of whole training speakers"
  sertool prep iemocap "$corpus_dir" data/iemocap --protocol leave-one-session-out --dev speakers \
    --jobs $jobs $(flag force)
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: log-mel + Δ + ΔΔ (STFT 800 / hop 400, 384 dims) into feats/iemocap_logmel"
  sertool features data/iemocap/manifest.jsonl feats/iemocap_logmel --extractor logmel --jobs $jobs $(flag force)
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for conf in $confs; do
    log "stage 3: train $conf on every fold into $(exp_of "$conf")"
    sertool train "$conf" --exp-dir "$(exp_of "$conf")" $(flag force) train.device "$device" "${tiny[@]}"
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: evaluate $(exp_of $confs | paste -sd ' ')"
  sertool eval $(exp_of $confs)
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "stage 5: Table 2's rows of ours → exp/table2.md"
  sertool scores exp/full exp/no_mtl --names "Full model,− Multitask learning" \
    --metric wa,ua,pooled_wa,pooled_ua,gender_acc --out exp/table2.md
  cat exp/table2.md
fi
log "done"
