# Cascade Mask R-CNN + FPN on COCO, 36 epochs, multi-scale (480-800) training and random crops, for vitzoo
# backbones. mmdet's ConvNeXt cascade config is the recipe the official GC ViT detection code trains with
# (three 4-conv-1-fc bbox heads with SyncBN and GIoU loss, steps at 27 and 33); of it, this keeps the model,
# pipeline and schedule and replaces ConvNeXt's optimizer (layer-wise lr decay, AMP, lr 2e-4) by the
# official one: AdamW 1e-4, wd 0.05, no decay on norms and position tables, 2500 warm-up iterations.
_base_ = [
    'mmdet::convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py',
    './no-decay-keys.py',
]
custom_imports = dict(imports=['backbones', 'mmdet_ext'], allow_failed_imports=False)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=0.0001, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={{_base_.no_decay_custom_keys}}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2500),
    dict(type='MultiStepLR', begin=0, end={{_base_.max_epochs}}, by_epoch=True, milestones=[27, 33], gamma=0.1)
]
