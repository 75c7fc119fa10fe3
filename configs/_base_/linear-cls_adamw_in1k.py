# ImageNet-1K classification, the part the official GC ViT, DaViT and GroupMixFormer recipes share: mmpretrain's
# Swin data pipeline (timm augmentation: RandAugment rand-m9-mstd0.5-inc1, per-pixel random erasing 0.25)
# and AdamW schedule, global average pooling + a linear head with label smoothing 0.1, Mixup 0.8 / CutMix 1.0
# switching per batch. Family configs set the backbone, head width, batch size, lr, schedule and evaluation crop.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))
