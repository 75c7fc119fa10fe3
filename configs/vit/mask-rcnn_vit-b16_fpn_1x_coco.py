# Mask R-CNN with a plain ViT-B/16 backbone, 12 epochs, ViTDet-style (../_base_/models/vit-b16.py: the
# last layer feeds a simple feature pyramid; layer-wise lr decay 0.7, drop path 0.1).
_base_ = ['../_base_/mask-rcnn_fpn_adamw_1x_coco.py', '../_base_/models/vit-b16.py']
model = dict(data_preprocessor=_base_.vit_data_preprocessor, backbone=_base_.vit_b16_backbone,
             neck=_base_.vit_simple_fpn)
optim_wrapper = _base_.vit_layer_decay_optim_wrapper
