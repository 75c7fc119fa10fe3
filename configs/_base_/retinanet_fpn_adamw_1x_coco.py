# RetinaNet + FPN on COCO, 12 epochs, AdamW 1e-4 (wd 0.05, no decay on norms and position tables);
# mmdet's Swin RetinaNet keeps SGD, which these backbones do not train well with. The FPN starts at
# stage 2 (stride 8): family configs use out_indices=(1, 2, 3).
_base_ = [
    'mmdet::swin/retinanet_swin-t-p4-w7_fpn_1x_coco.py',
    './no-decay-keys.py',
]
custom_imports = dict(imports=['backbones', 'mmdet_ext'], allow_failed_imports=False)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={{_base_.no_decay_custom_keys}}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
