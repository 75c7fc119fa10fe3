# Mask R-CNN + FPN on COCO, 12 epochs, for vitzoo backbones: mmdet's Swin recipe (AdamW 1e-4, wd 0.05,
# no decay on norms and position tables, steps at 8 and 11). Family configs replace the backbone with
# `backbone=dict(_delete_=True, type='backbones.X', ...)` and set the FPN's in_channels.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    './no-decay-keys.py',
]
custom_imports = dict(imports=['backbones', 'mmdet_ext'], allow_failed_imports=False)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={{_base_.no_decay_custom_keys}}))
