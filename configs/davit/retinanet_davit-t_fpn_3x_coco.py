# RetinaNet with a DaViT-T backbone (../_base_/models/davit-t.py), 36 epochs, multi-scale 480-800 + crop,
# FPN from stage 2 (stride 8), drop path 0.2: the official DaViT recipe (reported 46.5 AP).
_base_ = ['../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/davit-t.py']
model = dict(backbone=dict(_base_.davit_t_backbone, out_indices=(1, 2, 3)), neck=dict(in_channels=[192, 384, 768]))
