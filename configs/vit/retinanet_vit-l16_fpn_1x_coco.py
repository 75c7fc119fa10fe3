# RetinaNet with a plain ViT-L/16 backbone, 12 epochs. The simple feature pyramid gives strides 8, 16, 32 from
# the last layer's stride-16 map, and stride-2 3x3 convs add the stride 64 and 128 levels RetinaNet's anchors
# expect. Layer-wise lr decay 0.75, drop path 0.4; backbone and checkpoint as in
# mask-rcnn_vit-l16_fpn_1x_coco.py.
_base_ = './retinanet_vit-b16_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        arch='l16',
        drop_path_rate=0.4,
        out_indices=(23, ),
        with_cp=True,  # 24 layers of global attention: checkpoint to fit detection inputs
        init_cfg=dict(checkpoint='checkpoints/vit-l16_in21k-pre_in1k.pth')),
    neck=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
