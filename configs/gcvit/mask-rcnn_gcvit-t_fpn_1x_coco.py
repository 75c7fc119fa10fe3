# Mask R-CNN with a GC ViT-T backbone, 12 epochs. The backbone follows the official detection code:
# windows of 24 in every stage (pretrained 7/14 relative-position tables are bicubic-resized on load),
# and stage 3's global-query generator pools so that it sees the whole map before being resized to the
# window. Convert the ImageNet checkpoint first:
#   python tools/model_converters/gcvit_to_mm.py gcvit_1k_tiny.pth.tar checkpoints/gcvit-t_in1k.pth
_base_ = '../_base_/mask-rcnn_fpn_adamw_1x_coco.py'
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
