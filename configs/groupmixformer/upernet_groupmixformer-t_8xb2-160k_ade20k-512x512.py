# UPerNet with a GroupMixFormer-T backbone (../_base_/models/groupmixformer-t.py) on ADE20K, 512x512 crops,
# 160k iterations: the Swin/DaViT recipe of the shared base (AdamW 6e-5, wd 0.01, 1500 warm-up iterations
# then poly, auxiliary FCN head on stage 2, drop path 0.3).
# Any crop size works: each stage's size is ceil(H / stride).
_base_ = ['../_base_/upernet_adamw_160k_ade20k-512x512.py', '../_base_/models/groupmixformer-t.py']
model = dict(
    backbone=dict(_base_.groupmixformer_t_backbone, drop_path_rate=0.3),
    decode_head=dict(in_channels=[80, 160, 200, 240]),
    auxiliary_head=dict(in_channels=200))
