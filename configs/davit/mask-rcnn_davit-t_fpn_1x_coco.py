# Mask R-CNN with a DaViT-T backbone, 12 epochs: the official DaViT detection recipe (AdamW 1e-4, wd 0.05,
# drop path 0.1; reported 45.0 box / 41.1 mask AP). The official 1x schedule already trains with the DETR
# multi-scale (480-800) + crop augmentation, so this inherits the multi-scale base and shortens it to 12
# epochs (steps at 8 and 11). Convert the ImageNet checkpoint first:
#   python tools/model_converters/davit_to_mm.py DaViT_tiny.pth.tar checkpoints/davit-t_in1k.pth
_base_ = '../_base_/mask-rcnn_fpn_adamw_ms-crop-3x_coco.py'
model = dict(backbone=dict(_delete_=True,
                           type='backbones.DaViT',
                           arch='t',
                           drop_path_rate=0.1,
                           out_indices=(0, 1, 2, 3),
                           init_cfg=dict(type='Pretrained',
                                         checkpoint='checkpoints/davit-t_in1k.pth',
                                         prefix='backbone.')),
             neck=dict(in_channels=[96, 192, 384, 768]))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
