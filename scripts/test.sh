#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: lint, types, import contracts, then unit, system and integration
# tests (real mosquitto, real chromium). Arguments go to pytest. The tiers, their times, one test fast: docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
echo "test: ruff (lint and format)…" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "test: mypy…" >&2
.venv/bin/mypy
echo "test: import contracts (DESIGN.md's dependency rules, pyproject.toml [tool.importlinter])…" >&2
.venv/bin/lint-imports --no-cache
# two workers (pytest-xdist): the integration tests spend most of their time waiting on real processes. Each test
# waits on conditions, never on the machine being idle (docs/testing.md).
echo "test: pytest (2 workers)…" >&2
rc=0
.venv/bin/python -m pytest -n 2 --dist worksteal "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test: pytest collected no tests — that is a failure here" >&2
  exit 1
fi
exit "$rc"
