"""Segmentation-side additions for mmsegmentation.

None are needed so far: UPerNet, its auxiliary FCN head and (for ViT) ``MultiLevelNeck`` are
mmseg's own and take the backbones' outputs unchanged; CPU runs get BN in place of the heads' SyncBN
from :mod:`backbones.runtime`. Segmentation configs import this package (``custom_imports``) so that
additions land here without touching them.
"""
