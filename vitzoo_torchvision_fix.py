"""Make ``import torchvision`` work, in any import order, when its compiled library cannot load.

PyPI's torchvision wheels are CUDA builds. Installed next to a CPU-only torch, their ``_C`` library fails
to load; torchvision tolerates that, except that it then registers fake kernels for the
``torchvision::nms`` and ``torchvision::qnms`` operators, which do not exist, and the import fails
("operator torchvision::nms does not exist"). timm, mmpretrain.models and mmdet.models all import
torchvision, so nothing of the stack would import.

:func:`install_import_hook` puts a finder on ``sys.meta_path`` that waits for torchvision's own import to
reach ``torchvision._meta_registrations`` (right after torchvision tried to load ``_C``). Only if the
``torchvision::nms`` operator is missing at that point does it define the two schemas, with a pure-torch
NMS; a torchvision whose library loaded (a GPU user's matching build) is left untouched. The hook imports
nothing itself, so interpreter start-up stays as fast as before.

``tools/setup_env.sh`` installs a ``vitzoo-torchvision-fix.pth`` startup file into the virtual
environment that calls :func:`install_import_hook`, and ``import backbones`` calls it too (for
environments built without the installer). vitzoo itself uses mmcv's ops, never torchvision's.
"""
import sys

__all__ = ['install_import_hook', 'ops_patched']

# Imported by torchvision/__init__.py right after its ``extension`` module tried to load ``_C``, and the
# first module that needs the nms schema.
_TRIGGER = 'torchvision._meta_registrations'
_libraries = []  # the definitions live as long as their torch.library.Library object


def _nms(dets, scores, iou_threshold: float):
    """Greedy NMS over ``(N, 4)`` xyxy boxes; indices of the kept boxes by decreasing score."""
    import torch
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


def _qnms(dets, scores, iou_threshold: float):
    return _nms(dets.dequantize(), scores.dequantize(), iou_threshold)


def _define_missing_ops() -> None:
    import torch
    if hasattr(torch.ops.torchvision, 'nms'):
        return  # torchvision's compiled library loaded: nothing to fix
    library = torch.library.Library('torchvision', 'DEF')  # noqa: TOR901
    for name, impl in (('nms', _nms), ('qnms', _qnms)):
        library.define(f'{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
        library.impl(name, impl, 'CompositeExplicitAutograd')
    _libraries.append(library)


def ops_patched() -> bool:
    """Whether this module defined the nms schemas (False where torchvision's own library loaded)."""
    return bool(_libraries)


class TorchvisionFixFinder:
    """A meta-path finder that never finds anything: it only runs the fix when torchvision's import asks for
    :data:`_TRIGGER`, then removes itself."""

    def find_spec(self, name, path=None, target=None):
        if name == _TRIGGER:
            uninstall_import_hook()
            _define_missing_ops()
        return None


def install_import_hook() -> None:
    """Arrange for the fix to run when torchvision is first imported (idempotent, imports nothing)."""
    if 'torchvision' in sys.modules:
        return  # imported already: either it worked, or the error has been raised
    if not any(isinstance(finder, TorchvisionFixFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, TorchvisionFixFinder())


def uninstall_import_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, TorchvisionFixFinder)]
