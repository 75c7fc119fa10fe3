#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args...]
# Multi-node and CPU runs: see torchrun_exec in tools/_launch_env.sh.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG GPUS [train.py args...]" >&2; exit 2
fi
CONFIG=$1; GPUS=$2; shift 2
source "$(dirname "${BASH_SOURCE[0]}")/_launch_env.sh"
torchrun_exec "$GPUS" "$VITZOO_ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
