#!/usr/bin/env bash
# What every recipe's run.sh shares, sourced after parse_options.sh (see its header for the
# four lines that start a recipe). It
# - stops the recipe at the first failing command (set -euo pipefail);
# - defines log MESSAGE…: a time-stamped line naming the recipe and line (icefall's log);
# - defines sertool ARGS…: `python -m sertool ARGS…` with the project's virtual environment,
#   created or refreshed by tools/env.sh (set SERTOOL_PYTHON to use another interpreter, as the
#   tests do);
# - defines flag NAME: prints --name when the option NAME is true (for `--force`-like switches);
# - sets data_dir, feats_dir and exp_dir, unless the recipe or the user set them: data, feats and
#   exp, or data_stand_in, feats_stand_in and exp_stand_in when the option stand_in is true, so a
#   dry run on stand-in corpora never mixes with a real run; stand-in corpora go to
#   corpora_stand_in (stand_in_dir);
# - changes to the recipe's directory ($here), where every path of the recipe is relative.
set -euo pipefail

log() {
  echo -e "$(date '+%Y-%m-%d %H:%M:%S') (${BASH_SOURCE[1]##*/}:${BASH_LINENO[0]}) $*"
}

_common_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -n "${SERTOOL_PYTHON:-}" ]; then
  _common_python=$SERTOOL_PYTHON
elif [ -f "$_common_root/tools/env.sh" ]; then
  _common_python=$(bash "$_common_root/tools/env.sh")
else
  echo "${BASH_SOURCE[1]##*/}: no tools/env.sh above $(dirname "${BASH_SOURCE[0]}"): set SERTOOL_PYTHON" >&2
  exit 2
fi
sertool() { "$_common_python" -m sertool "$@"; }

flag() {
  if [ "${!1}" = true ]; then echo "--${1//_/-}"; fi
}

if [ "${stand_in:-false}" = true ]; then _common_sfx=_stand_in; else _common_sfx=; fi
: "${data_dir:=data$_common_sfx}" "${feats_dir:=feats$_common_sfx}" "${exp_dir:=exp$_common_sfx}"
: "${stand_in_dir:=corpora_stand_in}"

cd "$here"
