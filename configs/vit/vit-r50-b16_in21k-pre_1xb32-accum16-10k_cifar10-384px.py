# R50+ViT-B/16 fine-tuned on CIFAR-10 at 384 from Google's ImageNet-21k weights: the seed's recipe
# (jeonsworld/ViT-pytorch train.py; it reports 0.9904 top-1). SGD momentum 0.9, lr 3e-2, no weight decay, 10k
# steps of batch 512 (32 x 16 accumulated micro-batches on one GPU; with N GPUs set accumulative_counts=16/N),
# 500 linear warm-up steps then cosine to 0, grad-norm clip 1, dropout 0.1, zero-initialised head (the 21k
# head and pre-logits layer are not loaded). Train with --amp on a GPU (the seed used fp16). Images:
# RandomResizedCrop (area 0.05-1) / resize to 384, scaled to [-1, 1].
#   python tools/model_converters/vit_to_mm.py imagenet21k/R50+ViT-B_16.npz checkpoints/vit-r50-b16_in21k.pth
#   python tools/train.py configs/vit/vit-r50-b16_in21k-pre_1xb32-accum16-10k_cifar10-384px.py --amp
# data_root holds the standard CIFAR python pickles (cifar-10-batches-py/).
_base_ = './vit-b16_in21k-pre_1xb32-accum16-10k_cifar10-384px.py'
model = dict(
    backbone=dict(arch='r50-b16', init_cfg=dict(checkpoint='checkpoints/vit-r50-b16_in21k.pth')))
