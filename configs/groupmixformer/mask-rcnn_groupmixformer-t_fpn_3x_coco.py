# Mask R-CNN with a GroupMixFormer-T backbone (../_base_/models/groupmixformer-t.py), 36 epochs, multi-scale
# 480-800 + crop (AdamW 1e-4, wd 0.05).
_base_ = ['../_base_/mask-rcnn_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/groupmixformer-t.py']
model = dict(backbone=_base_.groupmixformer_t_backbone, neck=dict(in_channels=[80, 160, 200, 240]))
