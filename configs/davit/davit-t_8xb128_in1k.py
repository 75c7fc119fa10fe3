# DaViT-T on ImageNet-1K, the official recipe (dingmyu/davit train.py defaults and its README command):
# AdamW lr 1e-3 at a total batch of 1024 (wd 0.05, eps 1e-8, no decay on norms and biases), 300 epochs =
# 5 linear warm-up epochs from 1e-6 + cosine to 1e-5, then 10 cool-down epochs at 1e-5 (timm's schedule);
# grad-norm clip 1.0; timm augmentation (RandAugment rand-m9-mstd0.5-inc1, per-pixel random erasing 0.25,
# mixup 0.8 / cutmix 1.0, label smoothing 0.1); drop path 0.1. The official runs used AMP: add --amp.
# The backbone applies its last LayerNorm after global pooling (out_norm_after_pool), as the official
# classifier does; the GAP neck is then a no-op on the (B, C, 1, 1) output. Released weights convert with
#   python tools/model_converters/davit_to_mm.py DaViT_tiny.pth.tar checkpoints/davit-t_in1k.pth
_base_ = '../_base_/linear-cls_adamw_in1k.py'
model = dict(
    backbone=dict(type='backbones.DaViT', arch='t', drop_path_rate=0.1, out_indices=(3, ), out_norm_after_pool=True),
    head=dict(in_channels=768, init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)))

# The official evaluation: crop_pct 0.9, i.e. bicubic resize of the short side to 248, centre crop 224.
crop_pct = 0.9
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(224 / crop_pct), edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1e-3), clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5, end=300, convert_to_iter_based=True),
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=300, end=310),
]
train_cfg = dict(by_epoch=True, max_epochs=310, val_interval=1)
auto_scale_lr = dict(base_batch_size=1024)
