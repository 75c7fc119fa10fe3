# RetinaNet with a DaViT-T backbone, 36 epochs, multi-scale 480-800 + crop, drop path 0.2: the official
# DaViT recipe (reported 46.5 AP). Backbone as in retinanet_davit-t_fpn_1x_coco.py.
_base_ = '../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py'
model = dict(backbone=dict(_delete_=True,
                           type='backbones.DaViT',
                           arch='t',
                           drop_path_rate=0.2,
                           out_indices=(1, 2, 3),
                           init_cfg=dict(type='Pretrained',
                                         checkpoint='checkpoints/davit-t_in1k.pth',
                                         prefix='backbone.')),
             neck=dict(in_channels=[192, 384, 768]))
