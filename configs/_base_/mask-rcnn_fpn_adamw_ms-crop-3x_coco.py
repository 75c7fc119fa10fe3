# Mask R-CNN + FPN on COCO, 36 epochs with multi-scale (480-800) training and random crops (the DETR
# augmentation the GC ViT and DaViT papers used); otherwise as mask-rcnn_fpn_adamw_1x_coco.py.
_base_ = 'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py'
custom_imports = dict(imports=['backbones', 'mmdet_ext'], allow_failed_imports=False)
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.),
            'pos_embed': dict(decay_mult=0.),
            'cls_token': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.),
        }))
