# As retinanet_davit-t_fpn_1x_coco.py with a DaViT-B backbone. Only T's detection recipe was released;
# drop path follows Swin's for S and B.
_base_ = './retinanet_davit-t_fpn_1x_coco.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/davit-b_in1k.pth')),
             neck=dict(in_channels=[256, 512, 1024]))
