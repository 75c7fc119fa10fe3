# RetinaNet with a GroupMixFormer-B backbone, 36 epochs, multi-scale 480-800 + crop, FPN from stage 1 (stride 8).
# No detection/segmentation code was released with GroupMixFormer: this follows the Swin/DaViT recipe of
# the shared base (drop path 0.3, Swin's value for this size), not a published GroupMixFormer one.
# Backbone settings as in mask-rcnn_groupmixformer-b_fpn_3x_coco.py.
_base_ = '../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.GroupMixFormer',
        arch='b',
        drop_path_rate=0.3,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/groupmixformer-b_in1k.pth', prefix='backbone.')),
    neck=dict(in_channels=[240, 320, 480]))
