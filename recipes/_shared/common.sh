#!/usr/bin/env bash
# What every recipe's run.sh shares, sourced after parse_options.sh (see its header for the four
# lines that start a recipe). It
# - stops the recipe at the first failing command (set -euo pipefail);
# - defines `log MESSAGE…`: a time-stamped line naming the recipe and line (icefall's log);
# - defines `sertool ARGS…`: `python -m sertool ARGS…` in the project's virtual environment, which
#   tools/env.sh creates or refreshes (SERTOOL_PYTHON=/path/to/python uses that interpreter
#   instead, as the tests do);
# - defines `exp_of CONF…`: the experiment directory of each configuration, exp/<its name>
#   (`sertool eval $(exp_of $confs)` scores every row in one call);
# - defines `flag NAME`: prints --name when the option NAME is true (`sertool … $(flag force)`);
# - defines `absolute NAME…`: makes each named variable holding a relative path absolute against
#   the directory the recipe was started from (call it on corpus paths: the recipe then changes
#   directory);
# - changes to the recipe's working directory: the recipe's own directory, where every path of the
#   recipe (conf/, data/, feats/, exp/) is relative; with the option stand_in=true, its stand_in/
#   subdirectory instead, holding a link to conf/, so that a dry run on stand-in corpora runs the
#   same commands on the same relative paths and never mixes with a real run. Stand-in corpora
#   are generated into corpora/ there (stand_in_corpora).
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
  echo "${BASH_SOURCE[1]##*/}: no tools/env.sh in $_common_root: set SERTOOL_PYTHON" >&2
  exit 2
fi
sertool() { "$_common_python" -m sertool "$@"; }

exp_of() {
  local conf
  for conf in "$@"; do echo "exp/$(basename "$conf" .yaml)"; done
}

flag() {
  if [ "${!1}" = true ]; then echo "--${1//_/-}"; fi
}

_common_start=$PWD
absolute() {
  local name
  for name in "$@"; do
    case "${!name}" in
      ""|/*) ;;
      *) printf -v "$name" '%s' "${_common_start%/}/${!name}" ;;
    esac
  done
}

if [ "${stand_in:-false}" = true ]; then
  mkdir -p "$here/stand_in"
  [ ! -d "$here/conf" ] || ln -sfn ../conf "$here/stand_in/conf"
  cd "$here/stand_in"
  stand_in_corpora=$PWD/corpora
else
  cd "$here"
fi
