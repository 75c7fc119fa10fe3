# As upernet_groupmixformer-t_8xb2-160k_ade20k-512x512.py with a GroupMixFormer-S backbone (drop path 0.3).
_base_ = './upernet_groupmixformer-t_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(arch='s', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/groupmixformer-s_in1k.pth')),
    decode_head=dict(in_channels=[80, 160, 320, 320]),
    auxiliary_head=dict(in_channels=320))
