# Demo: a small GC ViT (1.6M parameters) trained from scratch on the embedded ImageNet-layout digits
# (10 classes, resized to 32x32, which keeps all of an 8x8 digit) with the GC ViT recipe shortened to
# 50 epochs (about 1.5 minutes on 2 CPU cores). Run by `bash tools/demo.sh`, which then publishes the
# weights for the detection and segmentation demos to fine-tune from. Shows the pipeline, not accuracy:
# a transformer trained from scratch on 600 images stays far from what pre-training gives.
_base_ = './gcvit-xxt_8xb128_in1k.py'
demo_arch = dict(
    _delete_=True, embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), mlp_ratio=2., window_size=(2, 2, 2, 1))
model = dict(
    backbone=dict(arch=demo_arch, drop_path_rate=0.),
    head=dict(num_classes=10, in_channels=256),
    train_cfg=dict(_delete_=True))
data_preprocessor = dict(num_classes=10)
data_root = 'data/embedded/imagenet'
classes = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.6, 1.0), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(32, 32), backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split='train', metainfo=dict(classes=classes), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=20,
    num_workers=1,
    persistent_workers=False,
    dataset=dict(data_root=data_root, split='val', metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 50
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
custom_hooks = []
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=32)
