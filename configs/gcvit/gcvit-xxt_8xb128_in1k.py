# GC ViT-XXT on ImageNet-1K: the official recipe of gcvit-t_8xb128_in1k.py.
_base_ = './gcvit-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='xxt'))
