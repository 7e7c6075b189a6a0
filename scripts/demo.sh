#!/usr/bin/env bash
# Set up (if needed) and run the one-command demo: broker + simulated county hall + gateway + page on :8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
exec .venv/bin/hallops demo "$@"
