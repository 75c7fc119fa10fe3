# Mask R-CNN with a DaViT-T backbone (../_base_/models/davit-t.py), 36 epochs, multi-scale 480-800 + crop:
# the official DaViT detection recipe (AdamW 1e-4, wd 0.05, steps at 27 and 33, drop path 0.2; reported
# 47.4 box / 42.9 mask AP).
_base_ = ['../_base_/mask-rcnn_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/davit-t.py']
model = dict(backbone=_base_.davit_t_backbone, neck=dict(in_channels=[96, 192, 384, 768]))
