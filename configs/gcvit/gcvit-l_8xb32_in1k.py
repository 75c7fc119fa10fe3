# GC ViT-L on ImageNet-1K: the official recipe at 32 images per GPU (drop path 0.5, layer scale 1e-5).
_base_ = './gcvit-b_8xb32_in1k.py'
model = dict(backbone=dict(arch='l'), head=dict(in_channels=1536))
