#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, types, unit and integration tests on a real mosquitto.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
echo "test: ruff…" >&2
.venv/bin/ruff check .
echo "test: mypy…" >&2
.venv/bin/mypy
echo "test: pytest…" >&2
rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests — that is a failure here" >&2
  exit 1
fi
exit "$rc"
