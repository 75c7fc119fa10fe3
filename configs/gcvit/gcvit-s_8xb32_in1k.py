# GC ViT-S on ImageNet-1K: the official recipe at 32 images per GPU (drop path 0.3, layer scale 1e-5),
# evaluated at crop_pct 0.875.
_base_ = './gcvit-xt_8xb128_in1k.py'
model = dict(backbone=dict(arch='s'), head=dict(in_channels=768))
train_dataloader = dict(batch_size=32)
val_dataloader = dict(batch_size=32)
test_dataloader = val_dataloader
auto_scale_lr = dict(base_batch_size=256)
