# Demo: the small GroupMixFormer of ../_base_/models/groupmixformer-demo.py trained from scratch on the
# embedded ImageNet-layout digits, with the data, schedule (30 epochs of 3000 images at 32x32, batch 2 x 64)
# and light augmentation of the GC ViT demo config it inherits; the GroupMixFormer recipe's AdamW (grad-norm
# clip 5, no decay on norms) at a peak rate of 3e-3, which this BatchNorm model takes without collapsing
# (the GC ViT demo needs 1.5e-3). Run by `bash tools/demo.sh`, which publishes the weights for the detection
# and segmentation demos to fine-tune from.
_base_ = ['../gcvit/gcvit-demo_2xb64_embedded-in1k.py', '../_base_/models/groupmixformer-demo.py']
model = dict(
    backbone=dict(_base_.groupmixformer_demo_backbone, out_indices=(3, ), init_cfg=None),
    head=dict(in_channels=160))
optim_wrapper = dict(optimizer=dict(lr=3e-3))
