# DaViT-B on ImageNet-1K: the official recipe of davit-t_8xb128_in1k.py with drop path 0.4.
_base_ = './davit-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.4), head=dict(in_channels=1024))
