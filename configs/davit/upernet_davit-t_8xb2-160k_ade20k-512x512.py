# UPerNet with a DaViT-T backbone on ADE20K, 512x512 crops, 160k iterations: the official DaViT recipe
# (AdamW 6e-5, wd 0.01, 1500 warm-up iterations then poly, auxiliary FCN head on stage 3, drop path 0.3;
# reported 46.3 mIoU). Windows of 7 pad the 128/64/32/16 maps of a 512 crop, as the official model does.
_base_ = '../_base_/upernet_adamw_160k_ade20k-512x512.py'
model = dict(backbone=dict(_delete_=True,
                           type='backbones.DaViT',
                           arch='t',
                           drop_path_rate=0.3,
                           out_indices=(0, 1, 2, 3),
                           init_cfg=dict(type='Pretrained',
                                         checkpoint='checkpoints/davit-t_in1k.pth',
                                         prefix='backbone.')),
             decode_head=dict(in_channels=[96, 192, 384, 768]),
             auxiliary_head=dict(in_channels=384))
