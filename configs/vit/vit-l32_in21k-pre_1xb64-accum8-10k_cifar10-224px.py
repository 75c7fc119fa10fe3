# ViT-L/32 fine-tuned on CIFAR-10 at 224 from Google's ImageNet-21k weights: the seed's recipe
# (jeonsworld/ViT-pytorch train.py; it reports 0.9903 top-1). SGD momentum 0.9, lr 3e-2, no weight decay, 10k
# steps of batch 512 (64 x 8 accumulated micro-batches on one GPU; with N GPUs set accumulative_counts=8/N),
# 500 linear warm-up steps then cosine to 0, grad-norm clip 1, dropout 0.1, zero-initialised head (the 21k
# head and pre-logits layer are not loaded). Train with --amp on a GPU (the seed used fp16). Images:
# RandomResizedCrop (area 0.05-1) / resize to 224, scaled to [-1, 1].
#   python tools/model_converters/vit_to_mm.py imagenet21k/ViT-L_32.npz checkpoints/vit-l32_in21k.pth
#   python tools/train.py configs/vit/vit-l32_in21k-pre_1xb64-accum8-10k_cifar10-224px.py --amp
# data_root holds the standard CIFAR python pickles (cifar-10-batches-py/).
_base_ = [
    'mmpretrain::_base_/datasets/cifar10_bs16.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)

img_size = 224
steps, warmup_steps, accumulate = 10000, 500, 8  # optimizer steps; the loop counts micro-batches
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='backbones.ViT',
        arch='l32',
        img_size=img_size,  # the 21k checkpoint's 14x14 position embedding is resized when loaded
        drop_rate=0.1,
        out_type='cls_token',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vit-l32_in21k.pth', prefix='backbone.')),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
data_preprocessor = dict(num_classes=10, mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=False)

train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.05, 1.0), backend='pillow'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), backend='pillow'),
    dict(type='PackInputs'),
]
data_root = 'data/cifar10'
train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    dataset=dict(data_root=data_root, split='train', download=False, pipeline=train_pipeline),
    sampler=dict(type='InfiniteSampler', shuffle=True))
val_dataloader = dict(
    batch_size=64,
    num_workers=4,
    dataset=dict(data_root=data_root, split='test', download=False, pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=3e-2, momentum=0.9, weight_decay=0.),
    accumulative_counts=accumulate,
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_steps * accumulate),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=False, begin=warmup_steps * accumulate,
         end=steps * accumulate),
]
train_cfg = dict(by_epoch=False, max_iters=steps * accumulate, val_interval=1000 * accumulate)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=10 * accumulate),
    checkpoint=dict(by_epoch=False, interval=1000 * accumulate, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
