# GroupMixFormer-M on ImageNet-1K, the official recipe (AILab-CVC/GroupMixFormer config.py defaults, its
# configs/groupmixformer_miny.yaml and README command): AdamW lr 5e-4 at a total batch of 512 (8 GPUs x 64;
# the official code scales lr by batch / 512), wd 0.05 (none on norms and biases), eps 1e-8; 300 epochs =
# 20 linear warm-up epochs from 5e-7, cosine to 5e-6; grad-norm clip 5.0; DeiT-style augmentation through
# timm (RandAugment rand-m9-mstd0.5-inc1, per-pixel random erasing 0.25, mixup 0.8 / cutmix 1.0 switching
# per batch, label smoothing 0.1); drop path 0.1; SyncBN in every conv-side norm, as the official model
# hard-codes (it becomes BN on machines without CUDA). Evaluated with crop_pct 0.875 (bicubic resize of the
# short side to 256, centre crop 224). Released weights convert with
#   python tools/model_converters/groupmixformer_to_mm.py groupmixformer_miny.pth checkpoints/groupmixformer-m_in1k.pth
# The official schedule is timm's CosineLRScheduler over epochs 0-300 with the warm-up overriding the first
# 20; mmengine's cosine here runs over epochs 20-300, so the lr decays slightly later (same start and end).
_base_ = '../_base_/linear-cls_adamw_in1k.py'
model = dict(
    backbone=dict(type='backbones.GroupMixFormer', arch='m', drop_path_rate=0.1,
                  norm_cfg=dict(type='SyncBN', requires_grad=True), out_indices=(3, )),
    head=dict(in_channels=160, init_cfg=dict(type='TruncNormal', layer='Linear', std=.02, bias=0.)))

train_dataloader = dict(batch_size=64)
val_dataloader = dict(batch_size=64)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=5e-4), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-6, by_epoch=True, begin=20, end=300, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=1)
auto_scale_lr = dict(base_batch_size=512)
