# RetinaNet with a plain ViT-B/16 backbone (../_base_/models/vit-b16.py), 36 epochs, multi-scale 480-800 +
# crop; neck as in retinanet_vit-b16_fpn_1x_coco.py.
_base_ = ['../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py', '../_base_/models/vit-b16.py']
model = dict(data_preprocessor=_base_.vit_data_preprocessor, backbone=_base_.vit_b16_backbone,
             neck=dict(_base_.vit_simple_fpn, scale_factors=(2.0, 1.0, 0.5), extra_levels='conv'))
optim_wrapper = _base_.vit_layer_decay_optim_wrapper
