# RetinaNet with a DaViT-T backbone, 12 epochs, FPN from stage 2 (stride 8): the official DaViT recipe
# (AdamW 1e-4, wd 0.05, drop path 0.1; reported 44.0 AP), which trains its 1x schedule with the DETR
# multi-scale + crop augmentation too: this inherits the multi-scale base, shortened to 12 epochs.
_base_ = '../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py'
model = dict(backbone=dict(_delete_=True,
                           type='backbones.DaViT',
                           arch='t',
                           drop_path_rate=0.1,
                           out_indices=(1, 2, 3),
                           init_cfg=dict(type='Pretrained',
                                         checkpoint='checkpoints/davit-t_in1k.pth',
                                         prefix='backbone.')),
             neck=dict(in_channels=[192, 384, 768]))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
