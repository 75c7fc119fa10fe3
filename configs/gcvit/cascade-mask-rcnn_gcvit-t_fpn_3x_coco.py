# Cascade Mask R-CNN with a GC ViT-T backbone, 36 epochs, multi-scale 480-800 + crop: the official GC ViT
# detection recipe (NVlabs/GCVit detection/configs/gcvit/cascade_mask_rcnn_gcvit_tiny_3x_coco.py: windows 24
# in every stage, drop path 0.2, AdamW 1e-4, wd 0.05, no decay on norms and position tables, steps at 27
# and 33; reported 51.6 box / 44.6 mask AP). Backbone: ../_base_/models/gcvit-t.py.
_base_ = ['../_base_/cascade-mask-rcnn_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/gcvit-t.py']
model = dict(backbone=_base_.gcvit_t_backbone, neck=dict(in_channels=[64, 128, 256, 512]))
