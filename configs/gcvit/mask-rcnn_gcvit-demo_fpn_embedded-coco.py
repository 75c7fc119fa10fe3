# The README's demo (tools/demo.py) runs the GroupMixFormer variant of this config, which inherits it
# (configs/groupmixformer/*demo*): this small GC ViT leaves chance level late or, in some runs, never.
# Demo: Mask R-CNN with a small GC ViT (the arch of gcvit-demo_2xb64_embedded-in1k.py, initialised from the
# classification demo's weights) fine-tuned on the embedded COCO-format digits (10 classes;
# `python tools/misc/make_embedded_data.py`). Sized to learn in under three minutes on 2 CPU cores: slim
# FPN/heads, images resized to fit 192 px, anchors of the digits' size and shape (boxes about 25x40 px,
# 1.6 times as tall as wide), fewer proposals and sampled RoIs than COCO needs, and 5 epochs of 256 images
# (more scenes rather than more epochs: 8 epochs of 96 gave bbox mAP_50 0.40, 5 of 256 gave 0.69). No flip:
# a mirrored digit is not a digit.
_base_ = './mask-rcnn_gcvit-xxt_fpn_1x_coco.py'
# Written by tools/demo.sh from the classification demo (publish_model.py): the backbone starts from it.
demo_backbone = 'work_dirs/demo/gcvit-demo_embedded-in1k.pth'
demo_arch = dict(_delete_=True, embed_dims=32, depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), mlp_ratio=2.)
width = 64
model = dict(
    backbone=dict(
        arch=demo_arch,
        window_size=8,
        drop_path_rate=0.,
        init_cfg=dict(type='Pretrained', checkpoint=demo_backbone, prefix='backbone.')),
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=width),
    rpn_head=dict(
        in_channels=width,
        feat_channels=width,
        anchor_generator=dict(scales=[6, 8, 10], ratios=[1.25, 1.6, 2.0])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=256, num_classes=10),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(in_channels=width, conv_out_channels=width, num_classes=10)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(
        rpn=dict(nms_pre=300, max_per_img=100),
        rcnn=dict(max_per_img=50)))
data_root = 'data/embedded/coco/'
metainfo = dict(classes=('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'))
image_scale = (192, 192)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_scale, ratio_range=(0.8, 1.2), keep_ratio=True),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(lr=1e-3))
max_epochs = 5
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True)
]
# Validated once, by tools/dist_test.sh after training.
train_cfg = dict(max_epochs=max_epochs, val_begin=max_epochs + 1)
default_hooks = dict(logger=dict(interval=4), checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
auto_scale_lr = dict(base_batch_size=4)
