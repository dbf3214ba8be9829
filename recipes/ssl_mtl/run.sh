#!/usr/bin/env bash
# The SSL-MTL recipe (ssl_mtl.txt) on IEMOCAP: a pretrained wav2vec 2.0 shared by emotion, gender,
# speaker and character-CTC heads, random stratified 5-fold cross-validation repeated 5 times.
#   prep (stratified folds) → train → eval → infer. The encoder reads the waveform: no features stage.
# Usage: bash recipes/ssl_mtl/run.sh --corpus-dir /data/IEMOCAP_full_release [--conf conf/X.yaml]
#        [--folds 10] [--stage N] [--stop-stage N] [--force]
# Every stage skips itself when its output is up to date; --force redoes the stages run.
set -euo pipefail

stage=1
stop_stage=4
force=
corpus_dir=
conf=conf/ssl_mtl.yaml
folds=5          # 5: Table 2's five-fold rows (5 repeats); 10: its ten-fold rows (10 repeats)
jobs=8

log() { echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[0]##*/}:${BASH_LINENO[0]}) $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage|--stop_stage) stop_stage=$2; shift 2 ;;
    --corpus-dir|--corpus_dir) corpus_dir=$2; shift 2 ;;
    --conf) conf=$2; shift 2 ;;
    --folds) folds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --force) force=--force; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=$(bash "$here/../../tools/env.sh")
sertool() { "$python" -m sertool "$@"; }
cd "$here"
data=data/iemocap
[ "$folds" = 5 ] || data=data/iemocap_${folds}fold
tag=$(basename "$conf" .yaml)
exp=exp/$tag

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  [ -n "$corpus_dir" ] || { echo "stage 1 needs --corpus-dir (IEMOCAP_full_release)" >&2; exit 2; }
  log "stage 1: IEMOCAP into $data, random stratified $folds-fold × $folds"
  sertool prep iemocap "$corpus_dir" $data --protocol stratified-kfold --folds $folds --repeats $folds \
    --jobs $jobs $force
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "stage 2: train $conf on every fold into $exp"
  sertool train "$conf" --exp-dir "$exp" $force
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "stage 3: evaluate $exp"
  sertool eval "$exp"
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "stage 4: infer on the first test clip of the best fold"
  clip=$("$python" - "$exp" "$data" <<'PY'
import json, sys
from sertool.inference import find_bundle
from sertool.train.checkpoint import load_checkpoint
bundle = load_checkpoint(find_bundle(sys.argv[1]))
folds = json.load(open(f"{sys.argv[2]}/folds.json"))["folds"]
test = next(f["test"] for f in folds if f["name"] == bundle["fold"])
audio = {u["id"]: u["audio"] for u in map(json.loads, open(f"{sys.argv[2]}/manifest.jsonl"))}
print(audio[test[0]])
PY
)
  sertool infer "$exp" "$clip"
fi
log "done"
