#!/usr/bin/env bash
# The SSL-MTL recipe (ssl_mtl.txt) on IEMOCAP: a pretrained wav2vec 2.0 shared by emotion, gender,
# speaker and character-CTC heads, random stratified 5-fold cross-validation repeated 5 times.
#   prep (stratified folds, no dev set) → train → eval → infer. The encoder reads the waveform:
#   no features stage.
# Usage: bash recipes/ssl_mtl/run.sh --corpus-dir /data/IEMOCAP_full_release [--conf conf/X.yaml]
#        [--folds 10] [--stage N] [--stop-stage N] [--force true]
#        bash recipes/ssl_mtl/run.sh --stand-in true     # dry run on a generated miniature IEMOCAP
# Every stage skips itself when its output is up to date; --force true redoes the stages run.

stage=1
stop_stage=4
force=false
corpus_dir=      # IEMOCAP_full_release
conf=conf/ssl_mtl.yaml
folds=5          # 5: Table 2's five-fold rows (5 repeats); 10: its ten-fold rows (10 repeats)
repeats=         # default: as many as folds (ssl_mtl.txt §3.3)
jobs=8
stand_in=false   # true: generate a miniature IEMOCAP and run every stage on it with tiny settings

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
. "$here/../_shared/common.sh"
absolute corpus_dir

[ -n "$repeats" ] || repeats=$folds
data=data/iemocap
[ "$folds" = 5 ] || data=data/iemocap_${folds}fold
tag=$(basename "$conf" .yaml)
exp=exp/$tag
tiny=()
if [ "$stand_in" = true ]; then
  # Tiny settings: one repeat of the folds; a randomly initialised wav2vec 2.0 of the base structure
  # shrunk to 2 layers of width 32 (nothing downloaded), trained whole for one epoch on one thread.
  repeats=1
  tiny=(model.encoder_conf.weights null model.encoder_conf.freeze none train.epochs 1 train.threads 1
        data.num_workers 0 model.encoder_conf.arch_conf "{extractor_conv_layer_config: [[16, 10, 5],
        [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 2, 2], [16, 2, 2]], encoder_embed_dim: 32,
        encoder_num_layers: 2, encoder_num_heads: 2, encoder_ff_interm_features: 64,
        encoder_pos_conv_kernel: 16, encoder_pos_conv_groups: 2, encoder_layer_drop: 0.0}")
  corpus_dir=$stand_in_corpora/IEMOCAP_full_release
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ "$stand_in" = true ]; then
    log "stage 1: a miniature IEMOCAP into $corpus_dir"
    sertool stand-in iemocap "$corpus_dir" --jobs $jobs
  fi
  [ -n "$corpus_dir" ] || { echo "stage 1 needs --corpus-dir (IEMOCAP_full_release)" >&2; exit 2; }
  log "stage 1: IEMOCAP into $data, random stratified $folds-fold × $repeats, no dev set"
  sertool prep iemocap "$corpus_dir" $data --protocol stratified-kfold --folds $folds --repeats $repeats \
    --dev none --jobs $jobs $(flag force)
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: train $conf on every fold into $exp"
  sertool train "$conf" --exp-dir "$exp" $(flag force) "${tiny[@]}"
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: evaluate $exp"
  sertool eval "$exp"
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: infer on the first test clip of the fold the model bundle was trained on"
  sertool infer "$exp" --held-out 1
fi
log "done"
