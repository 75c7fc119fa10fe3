# Mask R-CNN with a GroupMixFormer-T backbone, 12 epochs (AdamW 1e-4, wd 0.05).
# No detection/segmentation code was released with GroupMixFormer: this follows the Swin/DaViT recipe of
# the shared base (drop path 0.2, Swin's value for this size), not a published GroupMixFormer one.
# All four stages feed the FPN through their own output norms (SyncBN; BN without CUDA). Convert the
# ImageNet checkpoint first:
#   python tools/model_converters/groupmixformer_to_mm.py <official>.pth checkpoints/groupmixformer-t_in1k.pth
_base_ = '../_base_/mask-rcnn_fpn_adamw_1x_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.GroupMixFormer',
        arch='t',
        drop_path_rate=0.2,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/groupmixformer-t_in1k.pth', prefix='backbone.')),
    neck=dict(in_channels=[80, 160, 200, 240]))
