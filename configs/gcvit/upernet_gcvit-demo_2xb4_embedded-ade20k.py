# Demo: UPerNet with a small GC ViT (the arch of gcvit-demo_2xb16_embedded-in1k.py, initialised from the
# classification demo's weights) fine-tuned on the embedded ADE20K-layout digits (background + 10 digit classes; `python
# tools/misc/make_embedded_data.py`) with 160-pixel crops and slimmer heads. `--tta` runs the multi-scale
# (0.5-1.75) + flip test-time augmentation of the ADE20K base.
_base_ = './upernet_gcvit-xxt_8xb2-160k_ade20k-512x512.py'
# Written by tools/demo.sh from the classification demo (publish_model.py): the backbone starts from it.
demo_backbone = 'work_dirs/demo/gcvit-demo_embedded-in1k.pth'
demo_arch = dict(_delete_=True, embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), mlp_ratio=2.)
crop_size = (160, 160)
num_classes = 11
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=demo_arch,
        window_size=5,
        drop_path_rate=0.05,
        init_cfg=dict(type='Pretrained', checkpoint=demo_backbone, prefix='backbone.')),
    decode_head=dict(in_channels=[32, 64, 128, 256], channels=64, num_classes=num_classes),
    auxiliary_head=dict(in_channels=128, channels=32, num_classes=num_classes))
data_root = 'data/embedded/ade20k'
dataset = dict(
    type='BaseSegDataset',
    data_root=data_root,
    img_suffix='.jpg',
    seg_map_suffix='.png',
    reduce_zero_label=True,
    metainfo=dict(classes=('background', 'zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight',
                           'nine')))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(320, 240), ratio_range=(0.75, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=False,
    dataset=dict(
        dataset,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=False,
    dataset=dict(
        dataset,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_iters = 120
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=10, end=max_iters, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
