# Mask R-CNN with a plain ViT-L/16 backbone, 36 epochs, multi-scale 480-800 + crop, ViTDet-style: the
# backbone's last layer (stride 16) feeds a simple feature pyramid (mmdet_ext.SimpleFPN: strides 4-32 by
# deconvolution / pooling of that one map, plus a max-pooled stride-64 level), layer-wise lr decay 0.75, drop
# path 0.4. Any input size works: the image is padded to a multiple of 16 and the checkpoint's 14x14 position
# embedding is resized bilinearly to the actual grid at run time. Attention is global in every layer (ViTDet
# windows most layers), so memory grows with the square of the token count. Convert Google's ImageNet-21k
# pre-trained, 1k fine-tuned model at 224 first:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
_base_ = '../_base_/mask-rcnn_fpn_adamw_ms-crop-3x_coco.py'
model = dict(
    # Google's models take images scaled to [-1, 1].
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        _delete_=True,
        type='backbones.ViT',
        arch='l16',
        img_size=224,
        drop_path_rate=0.4,
        out_indices=(23, ),
        with_cp=True,  # 24 layers of global attention: checkpoint to fit detection inputs
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vit-l16_in21k-pre_in1k.pth', prefix='backbone.')),
    neck=dict(
        _delete_=True,
        type='mmdet_ext.SimpleFPN',
        in_channels=1024,
        out_channels=256,
        scale_factors=(4.0, 2.0, 1.0, 0.5),
        num_outs=5,
        extra_levels='maxpool'))
optim_wrapper = dict(
    constructor='backbones.LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.75))
