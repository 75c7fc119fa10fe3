# ViT-B/16 fine-tuned on CIFAR-10 at 384 from Google's ImageNet-21k weights: the seed's recipe
# (jeonsworld/ViT-pytorch train.py; it reports 0.9906 top-1). SGD momentum 0.9, lr 3e-2, no weight decay, 10k
# steps of batch 512 (32 x 16 accumulated micro-batches on one GPU; with N GPUs set accumulative_counts=16/N),
# 500 linear warm-up steps then cosine to 0, grad-norm clip 1, dropout 0.1, zero-initialised head (the 21k
# head and pre-logits layer are not loaded). Train with --amp on a GPU (the seed used fp16). Images:
# RandomResizedCrop (area 0.05-1) / resize to 384, scaled to [-1, 1].
#   python tools/model_converters/vit_to_mm.py imagenet21k/ViT-B_16.npz checkpoints/vit-b16_in21k.pth
#   python tools/train.py configs/vit/vit-b16_in21k-pre_1xb32-accum16-10k_cifar10-384px.py --amp
# data_root holds the standard CIFAR python pickles (cifar-10-batches-py/).
# The 224 recipe at 384: the 224 file's values derived from img_size and accumulate are restated here, since a
# child's variables do not re-evaluate its base's expressions.
_base_ = './vit-b16_in21k-pre_1xb64-accum8-10k_cifar10-224px.py'

img_size = 384
steps, warmup_steps, accumulate = 10000, 500, 16  # optimizer steps; the loop counts micro-batches
model = dict(backbone=dict(img_size=img_size))

train_pipeline = [
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.05, 1.0), backend='pillow'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(img_size, img_size), backend='pillow'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(accumulative_counts=accumulate)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=warmup_steps * accumulate),
    dict(type='CosineAnnealingLR', eta_min=0., by_epoch=False, begin=warmup_steps * accumulate,
         end=steps * accumulate),
]
train_cfg = dict(max_iters=steps * accumulate, val_interval=1000 * accumulate)
default_hooks = dict(
    logger=dict(interval=10 * accumulate),
    checkpoint=dict(interval=1000 * accumulate))
