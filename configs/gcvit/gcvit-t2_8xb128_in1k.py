# GC ViT-T2 on ImageNet-1K: the official recipe, evaluated at crop_pct 0.875.
_base_ = './gcvit-xt_8xb128_in1k.py'
model = dict(backbone=dict(arch='t2'))
