"""Make ``import torchvision`` work when its compiled part cannot load.

PyPI's torchvision wheels are CUDA builds. Installed next to a CPU-only torch, their ``_C`` library fails
to load; torchvision tolerates that, except that importing it registers fake kernels for the
``torchvision::nms`` and ``torchvision::qnms`` operators, which then do not exist, and the import fails
("operator torchvision::nms does not exist"). timm, mmpretrain.models and mmdet.models all import
torchvision, so nothing of the stack would import.

When, and only when, the compiled library fails to load, this module defines those two operator schemas
with a pure-torch NMS before torchvision is first imported. A torchvision whose library loads (a GPU
user's matching build) is left untouched. vitzoo itself uses mmcv's ops, never torchvision's.

It runs on ``import backbones``, so import ``backbones`` before anything that imports torchvision.
"""
import glob
import importlib.util
import os
import sys

import torch

__all__ = ['TORCHVISION_OPS_PATCHED']


def _nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS over ``(N, 4)`` xyxy boxes; indices of the kept boxes by decreasing score."""
    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    order = scores.argsort(descending=True)
    boxes = dets[order].float()
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    top_left = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
    bottom_right = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    iou = inter / (areas[:, None] + areas[None, :] - inter).clamp(min=torch.finfo(torch.float32).tiny)
    suppressed = torch.zeros(len(boxes), dtype=torch.bool, device=dets.device)
    keep = []
    for i in range(len(boxes)):  # inherently sequential; only reached on installs without the C++ op
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long, device=dets.device)]


def _qnms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    return _nms(dets.dequantize(), scores.dequantize(), iou_threshold)


def _compiled_ops_load() -> bool:
    spec = importlib.util.find_spec('torchvision')
    if spec is None or spec.origin is None:
        return True  # no torchvision: nothing to fix
    libraries = glob.glob(os.path.join(os.path.dirname(spec.origin), '_C*.so')) + \
        glob.glob(os.path.join(os.path.dirname(spec.origin), '_C*.pyd'))
    if not libraries:
        return False
    try:
        torch.ops.load_library(libraries[0])
    except (OSError, RuntimeError):
        return False
    return True


def _define_missing_ops() -> bool:
    if 'torchvision' in sys.modules or _compiled_ops_load():
        return False
    if hasattr(torch.ops, 'torchvision') and hasattr(torch.ops.torchvision, 'nms'):
        return False
    library = torch.library.Library('torchvision', 'DEF')  # noqa: TOR901
    for name, impl in (('nms', _nms), ('qnms', _qnms)):
        library.define(f'{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        library.impl(name, impl, 'CompositeExplicitAutograd')
    _compat_libraries.append(library)  # the definitions live as long as the Library object
    return True


_compat_libraries = []
TORCHVISION_OPS_PATCHED = _define_missing_ops()
