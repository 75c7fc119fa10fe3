# GC ViT-T on ImageNet-1K, the official recipe: AdamW lr 5e-3 (wd 0.05), 310 epochs = 20 linear warm-up +
# 280 cosine to 5e-6 + 10 cool-down, grad-norm clip 5, EMA 0.9998, timm augmentation (RandAugment
# m9-mstd0.5, random erasing 0.25, mixup 0.8 / cutmix 1.0, label smoothing 0.1), drop path 0.2.
_base_ = '../_base_/linear-cls_adamw_in1k.py'
model = dict(backbone=dict(type='backbones.GCViT', arch='t', out_indices=(3, )), head=dict(in_channels=512))

# Released models are evaluated at crop_pct 1.0 (xxt, t, b, l) or 0.875 (xt, t2, s, s2).
crop_pct = 1.0
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(224 / crop_pct), edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=5e-3),
    clip_grad=dict(max_norm=5.0),
    paramwise_cfg=dict(custom_keys={'.relative_position_bias_table': dict(decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=2e-4, by_epoch=True, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-6, by_epoch=True, begin=20, end=300, convert_to_iter_based=True),
    dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=300, end=310),
]
train_cfg = dict(by_epoch=True, max_epochs=310, val_interval=1)
custom_hooks = [dict(type='EMAHook', momentum=2e-4, priority='ABOVE_NORMAL')]
auto_scale_lr = dict(base_batch_size=1024)
