#!/usr/bin/env bash
# SpeechEQ recipe (speecheq.txt): ECAPA-TDNN with Res-BiGRU trained on emotion category (SEQM) and
# intensity (EIS), with phoneme CTC and gender as auxiliary tasks (MTL) and several corpora unified in
# one label space (MsUD), Tables 3 and 4.
#   Experiment 1 (Mandarin, Table 3): CASIA ten-fold, ESD's test set (Mandarin, except Surprise), a
#     SEQD-like corpus of one's own with a fixed test list; phones from AISHELL-1 (pinyin202).
#   Experiment 2 (English, Table 4): IEMOCAP 4 classes, random 4:1 × 5 folds; MsUD from RAVDESS,
#     CREMA-D and ESD's English part; phones from LibriSpeech (cmudict85).
#   1 prep (no dev sets) → 2 features (mel80 + augmented copies) → 3 train every conf/expN_*.yaml
#   → 4 eval → 5 gather the tables into exp/table3.md, exp/table4.md.
# Usage: bash recipes/speecheq/run.sh --casia-dir /data/CASIA --esd-dir "/data/Emotion Speech Dataset" \
#          --seqd-dir /data/seqd --aishell-dir /data/aishell --iemocap-dir /data/IEMOCAP_full_release \
#          --ravdess-dir /data/RAVDESS --crema-d-dir /data/CREMA-D --librispeech-dir /data/LibriSpeech
#        bash recipes/speecheq/run.sh --experiments 2 --iemocap-dir … (only the corpora it uses)
#        bash recipes/speecheq/run.sh --stand-in true   # dry run: miniature corpora, tiny settings
# Every stage skips itself when its output is up to date; --force true redoes the stages run.

stage=1
stop_stage=5
force=false
experiments="1 2"  # 1: Table 3 (Mandarin), 2: Table 4 (English)
casia_dir=         # CASIA: <speaker>/<emotion>/<n>.wav
esd_dir=           # ESD ("Emotion Speech Dataset")
seqd_dir=          # the SEQD-like corpus: audio under it, described by a CSV whose split column holds the test list
seqd_csv=          # its CSV (default: $seqd_dir/labels.csv)
aishell_dir=       # AISHELL-1: the root holding data_aishell/ and resource_aishell/
iemocap_dir=       # IEMOCAP_full_release
ravdess_dir=       # RAVDESS speech: Audio_Speech_Actors_01-24
crema_d_dir=       # CREMA-D: the root holding AudioWAV/
librispeech_dir=   # LibriSpeech: train-clean-100, …
confs=             # the configurations to train (default: every conf/expN_*.yaml of the experiments run)
device=auto        # train.device: auto, cpu, cuda, cuda:1, …
jobs=8
stand_in=false     # true: generate miniature corpora and run every stage on them with tiny settings

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../_shared/parse_options.sh"
. "$here/../_shared/common.sh"
absolute casia_dir esd_dir seqd_dir seqd_csv aishell_dir iemocap_dir ravdess_dir crema_d_dir librispeech_dir

# The corpora of each experiment (their prep names; CORPUS's directory is the option --CORPUS-dir).
corpora_1="casia esd seqd aishell"
corpora_2="iemocap ravdess crema-d esd librispeech"
if [ -z "$confs" ]; then
  for e in $experiments; do confs="$confs $(ls conf/exp${e}_*.yaml)"; done
fi
tiny_ecapa=()
tiny_baseline=()
partial=
if [ "$stand_in" = true ]; then
  partial=--partial
  casia_dir=$stand_in_corpora/CASIA
  esd_dir=$stand_in_corpora/ESD
  seqd_dir=$stand_in_corpora/SEQD
  aishell_dir=$stand_in_corpora/aishell
  iemocap_dir=$stand_in_corpora/IEMOCAP_full_release
  ravdess_dir=$stand_in_corpora/RAVDESS
  crema_d_dir=$stand_in_corpora/CREMA-D
  librispeech_dir=$stand_in_corpora/LibriSpeech
  # Tiny settings: the first fold only (eval scores the trained fold), one epoch (the two-stage
  # schedules cut to their first stage), the first 1.5 s of each utterance without a transcript
  # (the Res-BiGRUs run over every 10 ms frame), networks 8-16 channels/units wide; the paper's batch
  # of 32 kept (an epoch is a pass over the tested corpus's share of each batch: fewer, larger updates).
  tiny_common=(train.epochs 1 train.threads 1 optim.scheduler.stages "[{epochs: 1}]" data.max_seconds 1.5)
  tiny_ecapa=("${tiny_common[@]}" model.encoder_conf.channels 16 model.encoder_conf.se_bottleneck 8
              model.encoder_conf.attn_bottleneck 8 model.encoder_conf.embed_dim 16)
  tiny_baseline=("${tiny_common[@]}" model.encoder_conf.cnn_channels 8 model.encoder_conf.lstm_units 8
                 model.encoder_conf.attn_dim 16 model.encoder_conf.attn_heads 2)
fi

# prep CORPUS: the real command for each corpus, with the paper's protocol and no dev set.
prep() {
  case $1 in
    casia) sertool prep casia "$casia_dir" data/casia --protocol casia-10fold --dev none --jobs $jobs $(flag force) ;;
    esd) sertool prep esd "$esd_dir" data/esd --protocol corpus-split --dev none --jobs $jobs $(flag force) ;;
    seqd) sertool prep folder "$seqd_dir" data/seqd ${seqd_csv:+--csv "$seqd_csv"} --name seqd --language zh \
            --protocol corpus-split --dev none --jobs $jobs $(flag force) ;;
    aishell) sertool prep aishell "$aishell_dir" data/aishell --protocol corpus-split --dev none --jobs $jobs \
               $(flag force) ;;
    iemocap) sertool prep iemocap "$iemocap_dir" data/iemocap --protocol stratified-kfold --folds 5 --dev none \
               --jobs $jobs $(flag force) ;;
    ravdess) sertool prep ravdess "$ravdess_dir" data/ravdess --dev none --jobs $jobs $(flag force) ;;
    crema-d) sertool prep crema-d "$crema_d_dir" data/crema-d --dev none --jobs $jobs $(flag force) ;;
    librispeech) sertool prep librispeech "$librispeech_dir" data/librispeech --protocol corpus-split --dev none \
                   --jobs $jobs $(flag force) ;;
  esac
}

# make_stand_in CORPUS: its miniature copy where prep reads it.
make_stand_in() {
  case $1 in
    casia) sertool stand-in casia "$casia_dir" --jobs $jobs ;;
    esd) sertool stand-in esd "$esd_dir" --jobs $jobs ;;
    seqd) sertool stand-in folder "$seqd_dir" --like seqd --jobs $jobs ;;
    aishell) sertool stand-in aishell "$aishell_dir" --jobs $jobs ;;
    iemocap) sertool stand-in iemocap "$iemocap_dir" --jobs $jobs ;;
    ravdess) sertool stand-in ravdess "$ravdess_dir" --jobs $jobs ;;
    crema-d) sertool stand-in crema-d "$crema_d_dir" --jobs $jobs ;;
    librispeech) sertool stand-in librispeech "$librispeech_dir" --jobs $jobs ;;
  esac
}

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  needed=" "   # the corpora of the experiments run, each once, every directory checked before any prep
  for e in $experiments; do
    corpora=corpora_$e
    for c in ${!corpora}; do
      case "$needed" in *" $c "*) continue ;; esac
      needed="$needed$c "
      dir=${c//-/_}_dir
      [ -n "${!dir}" ] || { echo "stage 1 needs --$c-dir (Experiment $e; --experiments chooses)" >&2; exit 2; }
    done
  done
  for c in $needed; do
    if [ "$stand_in" = true ]; then
      log "stage 1: a miniature $c into $stand_in_corpora"
      make_stand_in $c
    fi
    log "stage 1: $c into data/$c"
    prep $c
  done
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  for e in $experiments; do
    corpora=corpora_$e
    manifests=()
    for c in ${!corpora}; do manifests+=(data/$c/manifest.jsonl); done
    log "stage 2: 80 mel filter banks (librosa, Hamming 25 ms / 10 ms) + augmented copies into feats/exp${e}_mel80"
    sertool features "${manifests[@]}" feats/exp${e}_mel80 --extractor mel80 --config conf/features/mel80.yaml \
      --jobs $jobs $(flag force)
  done
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  for conf in $confs; do
    tag=$(basename "$conf" .yaml)
    case $tag in *baseline*) tiny=("${tiny_baseline[@]}") ;; *) tiny=("${tiny_ecapa[@]}") ;; esac
    case $tag in *wo_mtl*) ;; *) [ "$stand_in" = false ] || tiny+=(weighting.stages "[{epochs: 1}]") ;; esac
    folds=()
    if [ "$stand_in" = true ]; then
      case $tag in *_esd|*_seqd) folds=(--fold corpus) ;; *) folds=(--fold 1) ;; esac  # corpus-split; k-fold
    fi
    log "stage 3: train $conf on every fold into exp/$tag"
    sertool train "$conf" --exp-dir "exp/$tag" "${folds[@]}" $(flag force) train.device "$device" "${tiny[@]}"
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: evaluate $(exp_of $confs | paste -sd ' ')"
  sertool eval $(exp_of $confs) ${partial:+"$partial"}
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  for e in $experiments; do
    case $e in
      1) for c in casia esd seqd; do
           log "stage 5: Table 3, $c → exp/table3_$c.md"
           sertool scores exp/exp1_{baseline,baseline_wo_mtl_wo_msud,speecheq,wo_mtl,wo_msud,wo_mtl_wo_msud}_$c \
             --names "Baseline,Baseline w/o MTL w/o MsUD,SpeechEQ,w/o MTL,w/o MsUD,w/o MTL w/o MsUD" \
             --metric wa,ua,uai,intensity_mse --out exp/table3_$c.md
         done ;;
      2) log "stage 5: Table 4 → exp/table4.md"
         sertool scores exp/exp2_speecheq exp/exp2_wo_mtl_wo_msud --names "SpeechEQ,w/o MTL w/o MsUD" \
           --metric wa,ua,uai,intensity_mse --out exp/table4.md ;;
    esac
  done
fi
log "done"
