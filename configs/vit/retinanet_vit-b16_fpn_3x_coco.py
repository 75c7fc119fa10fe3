# RetinaNet with a plain ViT-B/16 backbone, 36 epochs, multi-scale 480-800 + crop. The simple feature pyramid
# gives strides 8, 16, 32 from the last layer's stride-16 map, and stride-2 3x3 convs add the stride 64 and
# 128 levels RetinaNet's anchors expect. Layer-wise lr decay 0.7, drop path 0.1; backbone and checkpoint as in
# mask-rcnn_vit-b16_fpn_3x_coco.py.
_base_ = '../_base_/retinanet_fpn_adamw_ms-crop-3x_coco.py'
model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        _delete_=True,
        type='backbones.ViT',
        arch='b16',
        img_size=224,
        drop_path_rate=0.1,
        out_indices=(11, ),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vit-b16_in21k-pre_in1k.pth', prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='mmdet_ext.SimpleFPN',
        in_channels=768,
        out_channels=256,
        scale_factors=(2.0, 1.0, 0.5),
        num_outs=5,
        extra_levels='conv'))
optim_wrapper = dict(
    constructor='backbones.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.7))
