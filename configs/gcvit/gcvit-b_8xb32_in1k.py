# GC ViT-B on ImageNet-1K: the official recipe at 32 images per GPU (drop path 0.5, layer scale 1e-5).
_base_ = './gcvit-t_8xb128_in1k.py'
model = dict(backbone=dict(arch='b'), head=dict(in_channels=1024))
train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=256)
