# UPerNet with a GroupMixFormer-S backbone on ADE20K, 512x512 crops, 160k iterations: the Swin/DaViT
# recipe of the shared base (AdamW 6e-5, wd 0.01, 1500 warm-up iterations then poly, auxiliary FCN head on
# stage 2, drop path 0.3).
# Any crop size works: each stage's size is ceil(H / stride).
_base_ = '../_base_/upernet_adamw_160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.GroupMixFormer',
        arch='s',
        drop_path_rate=0.3,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/groupmixformer-s_in1k.pth', prefix='backbone.')),
    decode_head=dict(in_channels=[80, 160, 320, 320]),
    auxiliary_head=dict(in_channels=320))
