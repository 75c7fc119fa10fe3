# RetinaNet with a plain ViT-B/16 backbone (../_base_/models/vit-b16.py), 12 epochs. The simple feature
# pyramid gives strides 8, 16, 32 from the last layer's stride-16 map, and stride-2 3x3 convs add the stride
# 64 and 128 levels RetinaNet's anchors expect. Layer-wise lr decay 0.7, drop path 0.1.
_base_ = ['../_base_/retinanet_fpn_adamw_1x_coco.py', '../_base_/models/vit-b16.py']
model = dict(data_preprocessor=_base_.vit_data_preprocessor, backbone=_base_.vit_b16_backbone,
             neck=dict(_base_.vit_simple_fpn, scale_factors=(2.0, 1.0, 0.5), extra_levels='conv'))
optim_wrapper = _base_.vit_layer_decay_optim_wrapper
