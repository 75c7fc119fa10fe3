#!/usr/bin/env bash
# README command 2: set up .venv if needed, then run the test suite on VITZOO_TEST_WORKERS pytest-xdist
# workers (default 2, one per core here; 0 runs in one process). Extra arguments go to pytest
# (e.g. `-m "not slow"` to skip the end-to-end training runs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
# --dist loadfile: each test file runs on one worker, so a module's fixture (the training run that the fault
# tests damage, a generated data set) runs once. --no-loadscope-reorder hands the files out in the order of
# tests/conftest.py (longest first) instead of xdist's (most tests first, which left the demo for the end).
exec .venv/bin/python -m pytest -n "${VITZOO_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@"
