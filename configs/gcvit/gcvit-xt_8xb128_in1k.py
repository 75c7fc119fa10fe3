# GC ViT-XT on ImageNet-1K: the official recipe of gcvit-t_8xb128_in1k.py, evaluated at crop_pct 0.875
# (as are T2, S and S2, which inherit this file).
_base_ = './gcvit-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='xt'))
crop_pct = 0.875
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(224 / crop_pct), edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
