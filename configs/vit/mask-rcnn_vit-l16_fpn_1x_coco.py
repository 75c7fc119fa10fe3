# Mask R-CNN with a plain ViT-L/16 backbone, 12 epochs, ViTDet-style: the backbone's last layer (stride 16)
# feeds a simple feature pyramid (mmdet_ext.SimpleFPN: strides 4-32 by deconvolution / pooling of that one
# map, plus a max-pooled stride-64 level), layer-wise lr decay 0.75, drop path 0.4. Any input size works: the
# image is padded to a multiple of 16 and the checkpoint's 14x14 position embedding is resized bilinearly to
# the actual grid at run time. Attention is global in every layer (ViTDet windows most layers), so memory
# grows with the square of the token count. Convert Google's ImageNet-21k pre-trained, 1k fine-tuned model at
# 224 first:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
_base_ = './mask-rcnn_vit-b16_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        arch='l16',
        drop_path_rate=0.4,
        out_indices=(23, ),
        with_cp=True,  # 24 layers of global attention: checkpoint to fit detection inputs
        init_cfg=dict(checkpoint='checkpoints/vit-l16_in21k-pre_in1k.pth')),
    neck=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
