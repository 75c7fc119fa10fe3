"""vitzoo backbones: GC ViT, DaViT, GroupMixFormer and ViT for mmpretrain, mmdet and mmsegmentation.

Importing this package registers every backbone under the ``backbones`` scope
(``type='backbones.GCViT'``) and the layer-decay optimizer constructor
(``constructor='backbones.LayerDecayOptimWrapperConstructor'``). Import it before torchvision: on a
CPU-only torch it makes torchvision importable (see :mod:`backbones._compat`).
"""
from . import _compat  # noqa: F401  (must run before anything imports torchvision)
from .amp import AutocastOptimWrapper
from .base import BaseBackbone
from .davit import DaViT
from .gcvit import GCViT
from .groupmixformer import GroupMixFormer
from .layer_decay import LayerDecayOptimWrapperConstructor
from .vit import ViT

__all__ = [
    'AutocastOptimWrapper', 'BaseBackbone', 'DaViT', 'GCViT', 'GroupMixFormer', 'LayerDecayOptimWrapperConstructor', 'ViT'
]
