# Mask R-CNN with a GC ViT-T backbone (../_base_/models/gcvit-t.py: the official detection settings), 12 epochs.
_base_ = ['../_base_/mask-rcnn_fpn_adamw_1x_coco.py', '../_base_/models/gcvit-t.py']
model = dict(backbone=_base_.gcvit_t_backbone, neck=dict(in_channels=[64, 128, 256, 512]))
