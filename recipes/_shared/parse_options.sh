#!/usr/bin/env bash
# Command-line options for a recipe's run.sh, Kaldi/icefall style (egs/wsj/s5/utils/parse_options.sh).
#
# A recipe first sets every variable it lets the user change, with its default, then sources this
# file; each such variable can then be set as `--name value` (or `--name=value`), a dashed name
# `--stop-stage 3` setting the variable stop_stage. Usage, at the top of recipes/<name>/run.sh:
#
#   stage=1; stop_stage=5; stand_in=false   # every option, with its default
#   here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
#   . "$here/../_shared/parse_options.sh"
#   . "$here/../_shared/common.sh"
#
# Rules:
# - the options are the variables the recipe has set (unexported, name in lower case) before
#   sourcing this file, except `here`; an environment variable is never an option, so a typo cannot
#   overwrite PATH or HOME;
# - an unknown option, an option without a value and a stray argument stop the recipe with a
#   one-line message and exit status 2;
# - a variable whose default is true or false takes only true or false (`--stand-in true`), and
#   given alone (last, or followed by another option) it means true (`--stand-in`, `--force`);
# - `--help` (or -h) prints the recipe's header comment (its comment lines after the #! line)
#   and the options with their defaults, then exits 0.

_po_script=${BASH_SOURCE[1]:-$0}

# The recipe's options: its unexported lower-case variables (bash itself defines none, and
# environment variables are exported), less `here`, which locates this file.
_po_options() {
  local line flags name
  while IFS= read -r line; do
    flags=${line#declare }
    flags=${flags%% *}
    name=${line#declare "$flags" }
    name=${name%%=*}
    case "$flags" in *x*) continue ;; esac   # exported: an environment variable
    [[ $name =~ ^[a-z][a-z0-9_]*$ ]] || continue
    [ "$name" = here ] && continue
    echo "$name"
  done < <(declare -p | grep -E '^declare -[-a-zA-Z]* [a-z][a-z0-9_]*=' || true)
}

_po_usage() {
  sed -n '2,${/^#/!q;s/^# \{0,1\}//;p}' "$_po_script"
  echo
  echo "Options (default):"
  local name value
  for name in $(_po_options); do
    value=${!name}
    case "$value" in ""|*" "*) value="\"$value\"" ;; esac
    printf '  --%s %s\n' "${name//_/-}" "$value"
  done
}

_po_fail() { echo "${_po_script##*/}: $*" >&2; exit 2; }

_po_known=" $(_po_options | tr '\n' ' ') "
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) _po_usage; exit 0 ;;
    --*=*) _po_arg=${1%%=*}; _po_val=${1#*=}; shift ;;
    --*)
      _po_arg=$1
      _po_name=${1#--}
      _po_name=${_po_name//-/_}
      case " $(_po_options | tr '\n' ' ') " in
        *" $_po_name "*) _po_default=${!_po_name} ;;
        *) _po_default= ;;
      esac
      if { [ "$_po_default" = true ] || [ "$_po_default" = false ]; } && { [ $# -lt 2 ] || [[ $2 == --* ]]; }; then
        _po_val=true; shift   # a true/false option alone: `--stand-in` is `--stand-in true`
      else
        [ $# -ge 2 ] || _po_fail "option $1 needs a value (see --help)"
        _po_val=$2; shift 2
      fi ;;
    *) _po_fail "unexpected argument '$1': options are --name value (see --help)" ;;
  esac
  _po_name=${_po_arg#--}
  _po_name=${_po_name//-/_}
  case "$_po_known" in
    *" $_po_name "*) ;;
    *) _po_fail "unknown option $_po_arg (see --help)" ;;
  esac
  case "${!_po_name}" in
    true|false)
      case "$_po_val" in
        true|false) ;;
        *) _po_fail "option $_po_arg takes true or false, got '$_po_val'" ;;
      esac ;;
  esac
  printf -v "$_po_name" '%s' "$_po_val"
done
unset _po_arg _po_val _po_name _po_known _po_default
