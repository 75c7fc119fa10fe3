# UPerNet with a plain ViT-L/16 backbone on ADE20K: upernet_vit-b16_8xb2-160k_ade20k-512x512.py with
# ViT-L/16 (../_base_/models/vit-b16.py): layers 5, 11, 17, 23 (every quarter of the depth) feed the
# MultiLevelNeck; layer-wise lr decay 0.75, drop path 0.2. Convert first:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
_base_ = './upernet_vit-b16_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(_base_.vit_l16_backbone, img_size=512, drop_path_rate=0.2, out_indices=(5, 11, 17, 23)),
    neck=dict(in_channels=[1024] * 4, out_channels=1024),
    decode_head=dict(in_channels=[1024] * 4),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
