# UPerNet with a GC ViT-T backbone on ADE20K (512x512 crops, 160k iterations, mmseg's Swin recipe; the
# paper reports 47.0 mIoU, segmentation code was never released). Windows of 16 in every stage tile the
# 128/64/32/16 maps of a 512 crop exactly, and with stage 3's generator pooling, every global query is
# pooled straight to its window, with no resizing. Pretrained 7/14 tables are bicubic-resized on load.
_base_ = ['../_base_/upernet_adamw_160k_ade20k-512x512.py', '../_base_/models/gcvit-t.py']
model = dict(
    backbone=dict(_base_.gcvit_t_backbone, window_size=16, drop_path_rate=0.3),
    decode_head=dict(in_channels=[64, 128, 256, 512]),
    auxiliary_head=dict(in_channels=256))
