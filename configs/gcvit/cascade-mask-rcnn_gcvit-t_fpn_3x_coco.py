# Cascade Mask R-CNN with a GC ViT-T backbone, 36 epochs, multi-scale 480-800 + crop: the official GC ViT
# detection recipe (NVlabs/GCVit detection/configs/gcvit/cascade_mask_rcnn_gcvit_tiny_3x_coco.py: windows 24
# in every stage, drop path 0.2, AdamW 1e-4, wd 0.05, no decay on norms and position tables, steps at 27
# and 33; reported 51.6 box / 44.6 mask AP). Backbone as in mask-rcnn_gcvit-t_fpn_1x_coco.py.
_base_ = '../_base_/cascade-mask-rcnn_fpn_adamw_ms-crop-3x_coco.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.GCViT',
        arch='t',
        window_size=24,
        query_downsample=(True, True, True, False),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/gcvit-t_in1k.pth', prefix='backbone.')),
    neck=dict(in_channels=[64, 128, 256, 512]))
