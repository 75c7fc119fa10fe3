# The plain ViT-B/16 of the detection and segmentation configs, ViTDet-style: Google's ImageNet-21k
# pre-trained, 1k fine-tuned model at 224, drop path 0.1, layer-wise lr decay 0.7, images scaled to [-1, 1].
# Any input size works: the image is padded to a multiple of 16 and the checkpoint's 14x14 position
# embedding is resized bilinearly to the actual grid (at load time for a fixed img_size, else at run time).
# Attention is global in every layer (ViTDet windows most layers), so memory grows with the square of the
# token count. Configs take the parts with `_base_.vit_b16_backbone` etc. Convert the checkpoint first:
#   python tools/model_converters/vit_to_mm.py ViT-B_16-224.npz checkpoints/vit-b16_in21k-pre_in1k.pth
vit_data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])
vit_b16_backbone = dict(
    _delete_=True,
    type='backbones.ViT',
    arch='b16',
    img_size=224,
    drop_path_rate=0.1,
    out_indices=(11, ),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vit-b16_in21k-pre_in1k.pth', prefix='backbone.'))
vit_layer_decay_optim_wrapper = dict(
    constructor='backbones.LayerDecayOptimWrapperConstructor', paramwise_cfg=dict(layer_decay_rate=0.7))
# The last layer's stride-16 map feeds a simple feature pyramid (mmdet_ext.SimpleFPN): strides 4-32 by
# deconvolution / pooling, plus a max-pooled stride-64 level (RetinaNet changes the scales and levels).
vit_simple_fpn = dict(
    _delete_=True,
    type='mmdet_ext.SimpleFPN',
    in_channels=768,
    out_channels=256,
    scale_factors=(4.0, 2.0, 1.0, 0.5),
    num_outs=5,
    extra_levels='maxpool')
# ViT-L/16 (Google's ViT-L_16-224.npz, converted the same way): drop path 0.4, layer-wise lr decay 0.75.
vit_l16_backbone = dict(
    vit_b16_backbone,
    arch='l16',
    drop_path_rate=0.4,
    out_indices=(23, ),
    with_cp=True,  # 24 layers of global attention: checkpoint to fit detection and segmentation inputs
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/vit-l16_in21k-pre_in1k.pth', prefix='backbone.'))
