#!/usr/bin/env bash
# Create (or reuse) the virtual environment at <repo>/.venv with the pinned OpenMMLab stack.
#
# Idempotent: a second run checks a stamp and the imports and returns in seconds, rebuilding and
# re-downloading nothing. A torch already present in .venv (a GPU user's build) is kept; otherwise
# torch==$VITZOO_TORCH (default 2.13.0) is installed. Every later pip call is constrained to the
# installed torch version so that no dependency can swap it for another build.
#
# Usage: bash tools/setup_env.sh        (sourced by tools/demo.sh and tools/run_tests.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TORCH_DEFAULT="${VITZOO_TORCH:-2.13.0}"
MMCV_VERSION="2.1.0"   # mmdet 3.3 and mmseg 1.2 refuse mmcv 2.2 at import time.
STACK=(
  "setuptools>=77.0.3,<82"      # >=82 dropped pkg_resources: mmcv's setup.py and mmengine's mmdet::/mmseg:: configs need it
  "mmengine==0.10.7"
  "mmdet==3.3.0"
  "mmsegmentation==1.2.2"
  "mmpretrain==1.2.0"
  "timm==1.0.31"
  "torchvision==0.28.0"
  "opencv-python<5"
  "numpy<2.4"                    # numpy 2.4 removed np.in1d, used by mmpretrain's retrieval metrics
  "ftfy" "regex"                 # imported by mmseg without being declared
  "safetensors"
  "seaborn"                      # imported by the toolboxes' own analyze_logs.py (plot_curve) without being declared
  "onnx" "onnxscript" "onnxruntime"  # tools/deployment/export_onnx.py: torch.onnx's dynamo exporter and the check
  "scikit-learn" "scikit-image"  # real images (digits, photos) for the embedded data sets
  "pytest" "pytest-xdist"         # tools/run_tests.sh runs the suite on two workers
)

log() { printf '[setup_env] %s\n' "$*" >&2; }

if [ ! -x "$PY" ]; then
  log "creating virtual environment at $VENV"
  python3 -m venv "$VENV"
fi

# The stamp records what was installed; if it matches and the stack imports, there is nothing to do.
STAMP="$VENV/.vitzoo-stack"
WANT="$(printf '%s\n' "mmcv==$MMCV_VERSION" "${STACK[@]}" | cat - "$ROOT/setup.py" | sha1sum | cut -d' ' -f1)"
# torchvision first: that order needs the start-up hook below on a CPU-only torch.
stack_imports() {
  "$PY" - <<'PY' 2>/dev/null
import torchvision, timm, mmdet.models, mmseg.models, mmpretrain.models, mmcv.ops, backbones  # noqa: F401
PY
}

# Start-up hook: a .pth file that, at every interpreter start, puts vitzoo_torchvision_fix's import hook on
# sys.meta_path (it imports nothing; the fix runs only when torchvision's compiled library failed to load), so
# torchvision, timm and mm* import in any order. A no-op if the module is not importable.
install_startup_hook() {
  local site
  site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  printf '%s\n' "import importlib.util as _u; _u.find_spec('vitzoo_torchvision_fix') and __import__('vitzoo_torchvision_fix').install_import_hook()" \
    > "$site/vitzoo-torchvision-fix.pth"
}
install_startup_hook

# mmseg 1.2.2's wheel ships tools/analysis_tools/get_flops.py with a bug fixed upstream after that release
# (open-mmlab/mmsegmentation#3551): it gives mmengine both input_shape and inputs, which mmengine refuses for
# every config. Apply the same one-line fix to the installed copy (idempotent; nothing else is touched).
patch_mmseg_get_flops() {
  local tool
  tool="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mmseg/.mim/tools/analysis_tools/get_flops.py"
  if [ -f "$tool" ] && grep -q "^        input_shape,$" "$tool"; then
    sed -i 's/^        input_shape,$/        None,  # input_shape: fixed upstream in open-mmlab\/mmsegmentation#3551/' "$tool"
  fi
}
patch_mmseg_get_flops  # an existing environment; again below after installing the stack
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && stack_imports; then
  log "environment up to date ($VENV)"
  exit 0
fi

PIP=("$PY" -m pip --disable-pip-version-check)
if ! "$PY" -c "import torch" 2>/dev/null; then
  log "installing torch==$TORCH_DEFAULT"
  "${PIP[@]}" install "torch==$TORCH_DEFAULT"
fi
TORCH_VERSION="$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
CONSTRAINTS="$VENV/vitzoo-constraints.txt"
# Pins that every pip call honours, so that no dependency swaps torch or installs a version twice.
printf '%s\n' "torch==$TORCH_VERSION" "setuptools>=77.0.3,<82" "numpy<2.4" "opencv-python<5" > "$CONSTRAINTS"
log "keeping torch $TORCH_VERSION ($("$PY" -c 'import torch; print("CUDA " + torch.version.cuda if torch.version.cuda else "CPU build")'))"

"${PIP[@]}" install -c "$CONSTRAINTS" "setuptools>=77.0.3,<82" wheel ninja packaging addict yapf

# mmcv has no wheel for recent torch: build it with its compiled ops. --no-build-isolation makes the build
# see the installed torch; without it pip silently builds a wheel without ops. pip caches the wheel, so
# this is the only slow step and it runs once per machine.
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  log "installing mmcv==$MMCV_VERSION with compiled ops (the first source build takes 5-10 minutes on 2 cores; pip caches the wheel)"
  # -O1: the build is mostly parsing torch's headers, and -O1 compiles a file about a quarter faster than -O3;
  # the CPU ops (RoIAlign, NMS) stay compiled code, a small share of a detector's step.
  OPT="-DNDEBUG -O1 -g0 -fwrapv"
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" CFLAGS="$OPT" CXXFLAGS="$OPT" \
    "${PIP[@]}" install -c "$CONSTRAINTS" --no-build-isolation "mmcv==$MMCV_VERSION"
  "$PY" -c "import mmcv.ops" || { log "mmcv was installed without its compiled ops"; exit 1; }
fi

log "installing the OpenMMLab stack"
"${PIP[@]}" install -c "$CONSTRAINTS" "${STACK[@]}"
"${PIP[@]}" install -c "$CONSTRAINTS" --no-deps --no-build-isolation -e "$ROOT"

stack_imports || { log "the stack does not import; see the error above"; "$PY" -c "import backbones, mmcv.ops, mmdet.models, mmseg.models, mmpretrain.models, timm"; exit 1; }
patch_mmseg_get_flops
echo "$WANT" > "$STAMP"
log "environment ready ($VENV)"
