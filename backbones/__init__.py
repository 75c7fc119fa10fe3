"""vitzoo backbones: GC ViT, DaViT, GroupMixFormer and ViT for mmpretrain, mmdet and mmsegmentation.

Importing this package registers every backbone under the ``backbones`` scope
(``type='backbones.GCViT'``) and the layer-decay optimizer constructor
(``constructor='backbones.LayerDecayOptimWrapperConstructor'``). On a CPU-only torch it also makes
torchvision importable where the environment's start-up hook does not (see :mod:`backbones._compat`).
"""
from . import _compat  # noqa: F401  (before anything here imports torchvision)
from .amp import AutocastOptimWrapper
from .base import BaseBackbone
from .davit import DaViT
from .gcvit import GCViT
from .groupmixformer import GroupMixFormer
from .layer_decay import LayerDecayOptimWrapperConstructor
from .vit import ViT

__all__ = [
    'AutocastOptimWrapper', 'BaseBackbone', 'DaViT', 'GCViT', 'GroupMixFormer', 'LayerDecayOptimWrapperConstructor',
    'ViT'
]
