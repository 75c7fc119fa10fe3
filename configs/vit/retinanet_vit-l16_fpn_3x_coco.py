# RetinaNet with a plain ViT-L/16 backbone, 36 epochs, multi-scale 480-800 + crop:
# retinanet_vit-b16_fpn_3x_coco.py with ViT-L/16 (../_base_/models/vit-b16.py: layer-wise lr decay 0.75,
# drop path 0.4). Convert first:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
_base_ = './retinanet_vit-b16_fpn_3x_coco.py'
model = dict(backbone=_base_.vit_l16_backbone, neck=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
