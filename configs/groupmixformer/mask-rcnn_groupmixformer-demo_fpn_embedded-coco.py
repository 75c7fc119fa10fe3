# Demo: Mask R-CNN with the small GroupMixFormer of ../_base_/models/groupmixformer-demo.py, initialised from
# the classification demo's weights, fine-tuned on the embedded COCO-format digits with the slim heads,
# digit-shaped anchors, data and 5-epoch schedule of the GC ViT demo config it inherits.
_base_ = ['../gcvit/mask-rcnn_gcvit-demo_fpn_embedded-coco.py', '../_base_/models/groupmixformer-demo.py']
model = dict(
    backbone=_base_.groupmixformer_demo_backbone,
    neck=dict(in_channels=[40, 80, 160, 160]))
