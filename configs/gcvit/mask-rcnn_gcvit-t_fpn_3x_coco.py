# Mask R-CNN with a GC ViT-T backbone, 36 epochs, multi-scale 480-800 + crop: the official GC ViT
# detection recipe (AdamW 1e-4, wd 0.05, no decay on norms and position tables, steps at 27 and 33,
# drop path 0.2; reported 47.9 box / 43.2 mask AP). Backbone: ../_base_/models/gcvit-t.py.
_base_ = ['../_base_/mask-rcnn_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/gcvit-t.py']
model = dict(backbone=_base_.gcvit_t_backbone, neck=dict(in_channels=[64, 128, 256, 512]))
