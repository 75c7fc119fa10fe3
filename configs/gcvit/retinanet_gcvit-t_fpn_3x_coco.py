# RetinaNet with a GC ViT-T backbone (../_base_/models/gcvit-t.py), 36 epochs, multi-scale 480-800 + crop,
# FPN from stage 2 (stride 8).
_base_ = ['../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/gcvit-t.py']
model = dict(backbone=dict(_base_.gcvit_t_backbone, out_indices=(1, 2, 3)), neck=dict(in_channels=[128, 256, 512]))
