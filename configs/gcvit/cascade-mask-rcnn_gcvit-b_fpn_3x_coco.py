# As cascade-mask-rcnn_gcvit-t_fpn_3x_coco.py with a GC ViT-B backbone (reported 52.9 box / 45.8 mask AP).
# Only T's cascade config was released; drop path as in mask-rcnn_gcvit-b_fpn_3x_coco.py.
_base_ = './cascade-mask-rcnn_gcvit-t_fpn_3x_coco.py'
model = dict(
    backbone=dict(arch='b', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/gcvit-b_in1k.pth')),
    neck=dict(in_channels=[128, 256, 512, 1024]))
