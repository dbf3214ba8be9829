#!/usr/bin/env bash
# Selective MTL recipe (selective_mtl.txt): a BLSTM with multi-head self-attention trained on an acted
# corpus (IEMOCAP) and a spontaneous one (the paper's call-centre corpus is private: a folder corpus
# of one's own), with and without the style task, Tables 3-5.
#   1 prep (IEMOCAP leave-one-session-out; the spontaneous corpus random 5 folds; no dev sets)
#   → 2 features (40 log filter banks) → 3 train every conf/*.yaml → 4 eval (per corpus and averaged
#   over the two) → 5 gather the tables.
# Usage: bash recipes/selective_mtl/run.sh --corpus-dir /data/IEMOCAP_full_release \
#          --spon-dir /data/callcentre [--spon-csv labels.csv] [--spon-language ja] [--stage N]
#          [--stop-stage N] [--confs "conf/mtl.yaml"] [--device cuda] [--force true]
#        bash recipes/selective_mtl/run.sh --stand-in true   # dry run: miniature corpora, tiny settings
# Every stage skips itself when its output is up to date; --force true redoes the stages run.

stage=1
stop_stage=5
force=false
corpus_dir=        # IEMOCAP_full_release
spon_dir=          # the spontaneous corpus: audio under it, described by a CSV (docs/corpora.md, folder)
spon_csv=          # its CSV (default: $spon_dir/labels.csv)
spon_language=ja   # the language of its rows without one (the paper's corpus is Japanese)
confs=             # the configurations to train (default: every conf/*.yaml, one per table row)
device=auto        # train.device: auto, cpu, cuda, cuda:1, …
jobs=8
stand_in=false     # true: generate miniature corpora and run every stage on them with tiny settings

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
. "$here/../_shared/common.sh"
absolute corpus_dir spon_dir spon_csv

[ -n "$confs" ] || confs=$(ls conf/*.yaml)
tiny=()
partial=
if [ "$stand_in" = true ]; then
  partial=--partial
  corpus_dir=$stand_in_corpora/IEMOCAP_full_release
  spon_dir=$stand_in_corpora/spon
  # Tiny settings: the first fold only (IEMOCAP's Ses01 alone, SPON's 1 otherwise), one epoch of a
  # network 8 cells wide, 2 attention heads of 16, FC layers of 16; eval scores the trained fold.
  tiny=(train.epochs 1 train.threads 1 train.batch_size 8 model.encoder_conf.lstm_units 8
        model.encoder_conf.attn_dim 16 model.encoder_conf.attn_heads 2 model.encoder_conf.fc_dims "[16, 16]")
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ "$stand_in" = true ]; then
    log "stage 1: a miniature IEMOCAP and a miniature folder corpus into $stand_in_corpora"
    sertool stand-in iemocap "$corpus_dir" --jobs $jobs
    sertool stand-in folder "$spon_dir" --like calls --jobs $jobs
  fi
  [ -n "$corpus_dir" ] && [ -n "$spon_dir" ] || { echo "stage 1 needs --corpus-dir and --spon-dir" >&2; exit 2; }
  log "stage 1: IEMOCAP (ACT) into data/iemocap, leave-one-session-out, no dev set"
  sertool prep iemocap "$corpus_dir" data/iemocap --protocol leave-one-session-out --dev none \
    --jobs $jobs $(flag force)
  log "stage 1: the spontaneous corpus (SPON) into data/spon, random stratified 5 folds, no dev set"
  sertool prep folder "$spon_dir" data/spon ${spon_csv:+--csv "$spon_csv"} --name spon --style spontaneous \
    --language $spon_language --protocol stratified-kfold --folds 5 --dev none --jobs $jobs $(flag force)
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: 40 log filter banks (python_speech_features' logfbank) of both corpora into feats/logfbank40"
  sertool features data/iemocap/manifest.jsonl data/spon/manifest.jsonl feats/logfbank40 --extractor logfbank40 \
    --jobs $jobs $(flag force)
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for conf in $confs; do
    tag=$(basename "$conf" .yaml)
    folds=()
    if [ "$stand_in" = true ]; then
      case $tag in act) folds=(--fold Ses01) ;; *) folds=(--fold 1) ;; esac
    fi
    log "stage 3: train $conf on every fold into exp/$tag"
    sertool train "$conf" --exp-dir "exp/$tag" "${folds[@]}" $(flag force) train.device "$device" "${tiny[@]}"
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: evaluate $(exp_of $confs | paste -sd ' '): each corpus and their average"
  sertool eval $(exp_of $confs) ${partial:+"$partial"}
fi
if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "stage 5: Table 3 (UA, WA averaged over the two corpora) → exp/table3.md"
  sertool scores exp/combined exp/combined_half exp/mtl exp/mtl_half exp/selective_mtl exp/selective_mtl_half \
    --names "Combined,Combined (half),MTL,MTL (half),Selective MTL,Selective MTL (half)" \
    --metric corpus_avg_ua,corpus_avg_wa,ua,wa --out exp/table3.md
  log "stage 5: the baselines, each corpus alone (their mean: Table 3's ACT+SPON (separate)) → exp/baselines.md"
  sertool scores exp/act exp/spon --names "Baseline ACT,Baseline SPON" --metric ua,wa --out exp/baselines.md
  cat exp/table3.md exp/baselines.md
fi
log "done"
