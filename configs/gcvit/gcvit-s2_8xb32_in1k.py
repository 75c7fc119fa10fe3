# GC ViT-S2 on ImageNet-1K: the official recipe at 32 images per GPU (drop path 0.35).
_base_ = './gcvit-s_8xb32_in1k.py'
model = dict(backbone=dict(arch='s2'))
