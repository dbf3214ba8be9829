#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv and print its python.
# Used by the README's commands; safe to run repeatedly: it reinstalls only when
# pyproject.toml or constraints.txt changed since the last install.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$root/.venv"
stamp="$venv/.sertool-installed"
want=$(cat "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)

find_python() {
  for py in "${PYTHON:-}" python3.11 python3.12 python3.10 python3; do
    [ -n "$py" ] || continue
    command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "sertool needs Python >= 3.10 (set PYTHON=/path/to/python)" >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  py=$(find_python)
  echo "creating $venv with $py" >&2
  "$py" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing sertool and its dependencies into $venv (first run: a few minutes)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip "setuptools<81" wheel >&2
  "$venv/bin/python" -m pip install -q -c "$root/constraints.txt" -e "$root[dev]" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
