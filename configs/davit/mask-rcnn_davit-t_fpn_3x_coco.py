# Mask R-CNN with a DaViT-T backbone, 36 epochs, multi-scale 480-800 + crop: the official DaViT detection
# recipe (AdamW 1e-4, wd 0.05, steps at 27 and 33, drop path 0.2; reported 47.4 box / 42.9 mask AP).
# Backbone as in mask-rcnn_davit-t_fpn_1x_coco.py.
_base_ = '../_base_/mask-rcnn_fpn_adamw_ms-crop-3x_coco.py'
model = dict(backbone=dict(_delete_=True,
                           type='backbones.DaViT',
                           arch='t',
                           drop_path_rate=0.2,
                           out_indices=(0, 1, 2, 3),
                           init_cfg=dict(type='Pretrained',
                                         checkpoint='checkpoints/davit-t_in1k.pth',
                                         prefix='backbone.')),
             neck=dict(in_channels=[96, 192, 384, 768]))
