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
