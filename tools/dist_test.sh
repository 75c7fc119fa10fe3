#!/usr/bin/env bash
# Usage: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args, e.g. --tta]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun. Without CUDA the GPUS processes
# run on the CPU with the gloo backend. On one node with no PORT set, torchrun picks a free port.
# torchrun runs through tools/_torchrun.py, which keeps its reports of Ctrl-C and of errors the ranks
# explained quiet; exec makes it this script's process, so the job dies with it (the ranks follow their agent).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2; exit 2
fi
CONFIG=$1; CHECKPOINT=$2; GPUS=$3; shift 3
source "$(dirname "${BASH_SOURCE[0]}")/_launch_env.sh"
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
if [ "$NNODES" = 1 ] && [ -z "${PORT:-}" ]; then
  RDZV=(--standalone)
else
  RDZV=(--nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="${PORT:-29500}")
fi
exec "$PYTHON" "$VITZOO_ROOT/tools/_torchrun.py" "${RDZV[@]}" --nproc_per_node="$GPUS" \
  "$VITZOO_ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
