# As upernet_gcvit-t_8xb2-160k_ade20k-512x512.py with a GC ViT-XXT backbone.
_base_ = './upernet_gcvit-t_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(arch='xxt', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/gcvit-xxt_in1k.pth')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
