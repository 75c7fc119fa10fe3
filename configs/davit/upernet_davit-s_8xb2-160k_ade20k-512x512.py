# As upernet_davit-t_8xb2-160k_ade20k-512x512.py with a DaViT-S backbone (only T's recipe was released).
_base_ = './upernet_davit-t_8xb2-160k_ade20k-512x512.py'
model = dict(backbone=dict(arch='s', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/davit-s_in1k.pth')),
             decode_head=dict(in_channels=[96, 192, 384, 768]),
             auxiliary_head=dict(in_channels=384))
