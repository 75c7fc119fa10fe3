# UPerNet with a plain ViT-B/16 backbone (../_base_/models/vit-b16.py) on ADE20K (512x512 crops, 160k
# iterations, AdamW 6e-5 as mmseg's ViT/Swin recipes), following mmseg's ViT + MLN configs: layers 2, 5, 8, 11
# (every quarter of the depth) come out at stride 16 through their own norms and mmseg's MultiLevelNeck
# rescales them 4x, 2x, 1x and 0.5x into a pyramid for UPerHead; the auxiliary FCN head reads the stride-32
# level. Layer-wise lr decay 0.65, drop path 0.1. img_size=512: the position embedding is resized to 32x32
# when loaded. mmseg reports 46.75 / 48.46 mIoU (single / multi-scale) for its ViT-B/16 + MLN UPerNet.
_base_ = ['../_base_/upernet_adamw_160k_ade20k-512x512.py', '../_base_/models/vit-b16.py']
model = dict(
    data_preprocessor=_base_.vit_data_preprocessor,
    backbone=dict(_base_.vit_b16_backbone, img_size=512, out_indices=(2, 5, 8, 11)),
    neck=dict(type='MultiLevelNeck', in_channels=[768] * 4, out_channels=768, scales=[4, 2, 1, 0.5]),
    decode_head=dict(in_channels=[768] * 4, channels=512),
    auxiliary_head=dict(in_channels=768, in_index=3))
optim_wrapper = dict(_base_.vit_layer_decay_optim_wrapper, paramwise_cfg=dict(layer_decay_rate=0.65))
