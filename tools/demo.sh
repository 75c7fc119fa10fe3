#!/usr/bin/env bash
# README command 1: set up .venv (first run: ~15 minutes, mostly building mmcv; later runs: seconds) and
# run the demo (a small GroupMixFormer trained and tested on classification, detection and segmentation with
# tools/dist_train.sh / tools/dist_test.sh and 2 processes). Extra arguments go to tools/demo.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec .venv/bin/python tools/demo.py "$@"
