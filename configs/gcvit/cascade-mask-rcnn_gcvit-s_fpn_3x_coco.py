# As cascade-mask-rcnn_gcvit-t_fpn_3x_coco.py with a GC ViT-S backbone (reported 52.4 box / 45.4 mask AP).
# Only T's cascade config was released; drop path as in mask-rcnn_gcvit-s_fpn_3x_coco.py.
_base_ = './cascade-mask-rcnn_gcvit-t_fpn_3x_coco.py'
model = dict(
    backbone=dict(arch='s', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/gcvit-s_in1k.pth')),
    neck=dict(in_channels=[96, 192, 384, 768]))
