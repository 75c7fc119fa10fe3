# GC ViT-L pre-trained on ImageNet-21K, fine-tuned at 384 (windows 12, 12, 24, 12). The released model
# is evaluated by squashing the image to 384x384 (crop_pct 1.0); convert it with gcvit_to_mm.py.
_base_ = './gcvit-l_8xb32_in1k.py'
model = dict(backbone=dict(arch='l-384', drop_path_rate=0.1))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(384, 384), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
