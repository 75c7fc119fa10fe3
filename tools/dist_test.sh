#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args, e.g. --tta]
# Multi-node and CPU runs: see torchrun_exec in tools/_launch_env.sh.
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2; exit 2
fi
CONFIG=$1; CHECKPOINT=$2; GPUS=$3; shift 3
source "$(dirname "${BASH_SOURCE[0]}")/_launch_env.sh"
torchrun_exec "$GPUS" "$VITZOO_ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
