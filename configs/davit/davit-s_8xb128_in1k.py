# DaViT-S on ImageNet-1K: the official recipe of davit-t_8xb128_in1k.py with drop path 0.2.
_base_ = './davit-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='s', drop_path_rate=0.2))
