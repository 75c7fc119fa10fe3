# Mask R-CNN + FPN on COCO, 36 epochs with multi-scale (480-800) training and random crops (the DETR
# augmentation the GC ViT and DaViT papers used); otherwise as mask-rcnn_fpn_adamw_1x_coco.py.
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
    './no-decay-keys.py',
]
custom_imports = dict(imports=['backbones', 'mmdet_ext'], allow_failed_imports=False)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={{_base_.no_decay_custom_keys}}))
