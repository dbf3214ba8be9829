#!/usr/bin/env bash
# Decomposed-speech recipe (decomposed_speech_mtl.txt): SpeechSplit-style rhythm, content, pitch and
# timbre encoders pre-trained on reconstruction + speaker recognition, then fine-tuned with wav2vec
# 2.0 on emotion, character CTC, reconstruction and speaker tasks; IEMOCAP 4 classes (5,531 turns).
#   1 prep (leave-one-session-out by default; --protocol dialog-10fold is the paper's split, which
#   is speaker-dependent: every test speaker also speaks in training) → 2 features (SpeechSplit
#   spectrogram + RAPT pitch, 16 ms) → 3 pre-train conf/pretrain.yaml into exp/pretrain → 4 fine-tune
#   every configuration of $confs (each fold from exp/pretrain's same fold, init_from) → 5 eval →
#   6 infer on one clip with the best fold of the first configuration.
# Usage: bash recipes/decomposed/run.sh --corpus-dir /data/IEMOCAP_full_release [--stage N]
#        [--stop-stage N] [--protocol dialog-10fold] [--confs "conf/finetune.yaml conf/table3_m1.yaml"]
#        [--device cuda] [--force true]
#        bash recipes/decomposed/run.sh --stand-in true   # dry run: miniature IEMOCAP, tiny settings
# Every stage skips itself when its output is up to date; --force true redoes the stages run.

stage=1
stop_stage=6
force=false
corpus_dir=          # IEMOCAP_full_release
protocol=leave-one-session-out   # or dialog-10fold (the paper's ten folds, speaker-dependent)
confs="conf/finetune.yaml"       # fine-tuning configurations (Table 2: conf/table2_*.yaml, Table 3: conf/table3_*.yaml)
device=auto          # train.device: auto, cpu, cuda, cuda:1, …
jobs=8
stand_in=false       # true: generate a miniature IEMOCAP and run every stage on it with tiny settings

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
. "$here/../_shared/common.sh"
absolute corpus_dir

pre_tiny=()
tiny=()
if [ "$stand_in" = true ]; then
  corpus_dir=$stand_in_corpora/IEMOCAP_full_release
  # Tiny settings: one epoch, one thread, narrow encoders and a tiny random wav2vec 2.0 (no download).
  narrow="{rhythm_channels: 16, content_channels: 16, pitch_channels: 16, timbre_channels: 16, content_neck: 2,
    pitch_neck: 2, timbre_neck: 4, decoder_units: 16, decoder_layers: 1, group_channels: 8}"
  tiny_ssl="{extractor_conv_layer_config: [[16, 10, 5], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 3, 2], [16, 2, 2],
    [16, 2, 2]], encoder_embed_dim: 32, encoder_num_layers: 1, encoder_num_heads: 2, encoder_ff_interm_features: 64,
    encoder_pos_conv_kernel: 16, encoder_pos_conv_groups: 2}"
  common=(train.epochs 1 train.threads 1 train.batch_size 4 data.num_workers 0 data.max_seconds 4.0)
  pre_tiny=("${common[@]}" model.encoder_conf "$narrow")
  tiny=("${common[@]}" model.encoder_conf.decomposition "$narrow" model.encoder_conf.ssl_conf.weights null
        model.encoder_conf.ssl_conf.arch_conf "$tiny_ssl" model.encoder_conf.ssl_conf.freeze none)
fi
if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  if [ "$stand_in" = true ]; then
    log "stage 1: a miniature IEMOCAP into $corpus_dir"
    sertool stand-in iemocap "$corpus_dir" --jobs $jobs
  fi
  [ -n "$corpus_dir" ] || { echo "stage 1 needs --corpus-dir (IEMOCAP_full_release)" >&2; exit 2; }
  [ "$protocol" != dialog-10fold ] || log "stage 1: dialog-10fold is speaker-dependent (the paper's split); scores will be flagged"
  log "stage 1: IEMOCAP into data/iemocap, $protocol, no dev set (the paper trains a fixed 50 epochs)"
  sertool prep iemocap "$corpus_dir" data/iemocap --protocol "$protocol" --dev none --jobs $jobs $(flag force)
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: SpeechSplit spectrogram + RAPT pitch (16 ms, frame for frame) into feats/"
  sertool features data/iemocap/manifest.jsonl feats --extractor speechsplit+pitch \
    --config "$here/features.yaml" --jobs $jobs $(flag force)
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: pre-train the decomposition model (reconstruction + speaker) on every fold into exp/pretrain"
  sertool train conf/pretrain.yaml --exp-dir exp/pretrain $(flag force) train.device "$device" "${pre_tiny[@]}"
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  for conf in $confs; do
    log "stage 4: fine-tune $conf on every fold into $(exp_of "$conf")"
    sertool train "$conf" --exp-dir "$(exp_of "$conf")" $(flag force) train.device "$device" "${tiny[@]}"
  done
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "stage 5: evaluate $(exp_of $confs | paste -sd ' ')"
  sertool eval $(exp_of $confs)
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  set -- $confs
  clip=$(head -n 1 data/iemocap/manifest.jsonl | sed -e 's/.*"audio": *"\([^"]*\)".*/\1/')
  log "stage 6: infer $clip with $(exp_of "$1")"
  sertool infer "$(exp_of "$1")" "$clip"
fi
log "done"
