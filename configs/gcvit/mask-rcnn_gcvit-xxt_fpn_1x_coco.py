# As mask-rcnn_gcvit-t_fpn_1x_coco.py with a GC ViT-XXT backbone.
_base_ = './mask-rcnn_gcvit-t_fpn_1x_coco.py'
model = dict(
    backbone=dict(arch='xxt', drop_path_rate=0.2, init_cfg=dict(checkpoint='checkpoints/gcvit-xxt_in1k.pth')),
    neck=dict(in_channels=[64, 128, 256, 512]))
