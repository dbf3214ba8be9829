#!/usr/bin/env bash
# Run sertool's lint check and test suite, creating the environment first if needed.
# Extra arguments go to pytest, e.g. `bash tools/test.sh -k manifest`.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$(bash "$root/tools/env.sh")
cd "$root"
"$python" -m ruff check .   # lint first: one clear list of problems, before the slower tests
# One worker per core (SERTOOL_TEST_WORKERS=0: in this process); idle workers steal queued tests.
exec "$python" -m pytest -n "${SERTOOL_TEST_WORKERS:-auto}" --dist worksteal "$@"
