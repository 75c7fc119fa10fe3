# ViT-B/16 fine-tuned on CIFAR-100 at 224 from Google's ImageNet-21k weights: the seed's recipe
# (jeonsworld/ViT-pytorch train.py; it reports 0.923 top-1). SGD momentum 0.9, lr 3e-2, no weight decay, 10k
# steps of batch 512 (64 x 8 accumulated micro-batches on one GPU; with N GPUs set accumulative_counts=8/N),
# 500 linear warm-up steps then cosine to 0, grad-norm clip 1, dropout 0.1, zero-initialised head (the 21k
# head and pre-logits layer are not loaded). Train with --amp on a GPU (the seed used fp16). Images:
# RandomResizedCrop (area 0.05-1) / resize to 224, scaled to [-1, 1].
#   python tools/model_converters/vit_to_mm.py imagenet21k/ViT-B_16.npz checkpoints/vit-b16_in21k.pth
#   python tools/train.py configs/vit/vit-b16_in21k-pre_1xb64-accum8-10k_cifar100-224px.py --amp
# data_root holds the standard CIFAR python pickles (cifar-100-python/).
_base_ = './vit-b16_in21k-pre_1xb64-accum8-10k_cifar10-224px.py'
model = dict(head=dict(num_classes=100))
data_preprocessor = dict(num_classes=100)
data_root = 'data/cifar100'
train_dataloader = dict(dataset=dict(type='CIFAR100', data_root=data_root))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root=data_root))
test_dataloader = val_dataloader
