# As upernet_groupmixformer-t_8xb2-160k_ade20k-512x512.py with a GroupMixFormer-B backbone (drop path 0.3).
# The paper reports 51.2 mIoU for GroupMixFormer-B with UPerNet; its segmentation code and exact recipe
# were not released.
_base_ = './upernet_groupmixformer-t_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(arch='b', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/groupmixformer-b_in1k.pth')),
    decode_head=dict(in_channels=[200, 240, 320, 480]),
    auxiliary_head=dict(in_channels=320))
