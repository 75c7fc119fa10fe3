# Shared by the launchers: pick the Python to run and make the repository importable.
# PYTHON overrides; inside an activated environment its python is used; else the repository's .venv.
VITZOO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ]; then
    PYTHON=python
  elif [ -x "$VITZOO_ROOT/.venv/bin/python" ]; then
    PYTHON="$VITZOO_ROOT/.venv/bin/python"
  else
    PYTHON=python3
  fi
fi
export PYTHONPATH="$VITZOO_ROOT${PYTHONPATH:+:$PYTHONPATH}"

# torchrun_exec GPUS SCRIPT ARGS...: become torchrun running SCRIPT ARGS in GPUS processes (for dist_train.sh
# and dist_test.sh). Multi-node: NNODES, NODE_RANK, MASTER_ADDR and PORT as for torchrun; on one node with no
# PORT set, torchrun picks a free port. Without CUDA the processes run on the CPU with the gloo backend.
# torchrun runs through tools/_torchrun.py, which keeps its reports of Ctrl-C and of errors the ranks
# explained quiet; exec makes it the script's process, so the job dies with it (the ranks follow their agent).
torchrun_exec() {
  local gpus=$1 rdzv=(--standalone)
  shift
  if [ "${NNODES:-1}" != 1 ] || [ -n "${PORT:-}" ]; then
    rdzv=(--nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}"
          --master_port="${PORT:-29500}")
  fi
  exec "$PYTHON" "$VITZOO_ROOT/tools/_torchrun.py" "${rdzv[@]}" --nproc_per_node="$gpus" "$@"
}
