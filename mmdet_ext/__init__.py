"""Detection-side additions for mmdet: ViTDet's simple feature pyramid for the single-scale ViT
(``type='mmdet_ext.SimpleFPN'``). The hierarchical backbones feed mmdet's own FPN unchanged."""
from .registry import MODELS
from .simple_fpn import SimpleFPN

__all__ = ['MODELS', 'SimpleFPN']
