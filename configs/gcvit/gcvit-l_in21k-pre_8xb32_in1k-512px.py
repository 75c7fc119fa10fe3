# GC ViT-L pre-trained on ImageNet-21K, fine-tuned at 512 (windows 16, 16, 32, 16). The released model
# is evaluated by squashing the image to 512x512 (crop_pct 1.0); convert it with gcvit_to_mm.py.
_base_ = './gcvit-l_8xb32_in1k.py'
model = dict(backbone=dict(arch='l-512', drop_path_rate=0.1))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(512, 512), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
