#!/usr/bin/env bash
# README command 2: set up .venv if needed, then run the test suite. Extra arguments go to pytest
# (e.g. `-m "not slow"` to skip the end-to-end training runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec .venv/bin/python -m pytest "$@"
