# UPerNet with a GC ViT-T backbone on ADE20K (512x512 crops, 160k iterations, mmseg's Swin recipe; the
# paper reports 47.0 mIoU, segmentation code was never released). Windows of 16 in every stage tile the
# 128/64/32/16 maps of a 512 crop exactly, and with stage 3's generator pooling, every global query is
# pooled straight to its window, with no resizing. Pretrained 7/14 tables are bicubic-resized on load.
_base_ = '../_base_/upernet_adamw_160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.GCViT',
        arch='t',
        window_size=16,
        query_downsample=(True, True, True, False),
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/gcvit-t_in1k.pth', prefix='backbone.')),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
