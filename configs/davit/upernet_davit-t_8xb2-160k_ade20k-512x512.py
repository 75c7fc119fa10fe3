# UPerNet with a DaViT-T backbone (../_base_/models/davit-t.py) on ADE20K, 512x512 crops, 160k iterations:
# the official DaViT recipe (AdamW 6e-5, wd 0.01, 1500 warm-up iterations then poly, auxiliary FCN head on
# stage 3, drop path 0.3; reported 46.3 mIoU). Windows of 7 pad the 128/64/32/16 maps of a 512 crop, as the
# official model does.
_base_ = ['../_base_/upernet_adamw_160k_ade20k-512x512.py', '../_base_/models/davit-t.py']
model = dict(backbone=dict(_base_.davit_t_backbone, drop_path_rate=0.3),
             decode_head=dict(in_channels=[96, 192, 384, 768]),
             auxiliary_head=dict(in_channels=384))
