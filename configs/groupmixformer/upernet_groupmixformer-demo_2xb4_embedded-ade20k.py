# Demo: UPerNet with the small GroupMixFormer of ../_base_/models/groupmixformer-demo.py, initialised from
# the classification demo's weights, fine-tuned on the embedded ADE20K-layout digits (background + 10 digit
# classes; 512 training and 48 validation scenes of 96-160 px, each with 4-10 digits of 24-40 px, about the
# size the classifier learnt them at), with the slim GroupNorm heads and background weight of the GC ViT
# demo config it inherits. Trained on 96-px crops of scenes resized to fit about 128 px and tested at the
# scenes' own size, 720 iterations at a peak rate of 2e-3 (at 360 iterations and 1e-3 it was still leaving
# the plateau where every digit gets every digit class alike: mIoU 16).
_base_ = ['../gcvit/upernet_gcvit-demo_2xb4_embedded-ade20k.py', '../_base_/models/groupmixformer-demo.py']
crop_size = (96, 96)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=_base_.groupmixformer_demo_backbone,
    decode_head=dict(in_channels=[40, 80, 160, 160]),
    auxiliary_head=dict(in_channels=160))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.9, 1.1), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
# No flip (a mirrored digit is not a digit): multi-scale only, around the scenes' own size.
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-3))
max_iters = 720
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=max_iters)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_begin=max_iters + 1)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
