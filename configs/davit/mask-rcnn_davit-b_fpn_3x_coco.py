# As mask-rcnn_davit-t_fpn_3x_coco.py with a DaViT-B backbone. Only T's detection recipe was released;
# drop path follows Swin's for S and B.
_base_ = './mask-rcnn_davit-t_fpn_3x_coco.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/davit-b_in1k.pth')),
             neck=dict(in_channels=[128, 256, 512, 1024]))
