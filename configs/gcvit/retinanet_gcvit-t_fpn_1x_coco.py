# RetinaNet with a GC ViT-T backbone, 12 epochs, FPN from stage 2 (stride 8). Backbone settings as in
# mask-rcnn_gcvit-t_fpn_1x_coco.py.
_base_ = '../_base_/retinanet_fpn_adamw_1x_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.GCViT',
        arch='t',
        window_size=24,
        query_downsample=(True, True, True, False),
        drop_path_rate=0.2,
        out_indices=(1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/gcvit-t_in1k.pth', prefix='backbone.')),
    neck=dict(in_channels=[128, 256, 512]))
