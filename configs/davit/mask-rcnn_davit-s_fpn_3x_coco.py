# As mask-rcnn_davit-t_fpn_3x_coco.py with a DaViT-S backbone. Only T's detection recipe was released;
# drop path follows Swin's for S and B.
_base_ = './mask-rcnn_davit-t_fpn_3x_coco.py'
model = dict(backbone=dict(arch='s', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/davit-s_in1k.pth')),
             neck=dict(in_channels=[96, 192, 384, 768]))
