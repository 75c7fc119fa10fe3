# Mask R-CNN with a GroupMixFormer-B backbone: as mask-rcnn_groupmixformer-t_fpn_1x_coco.py with drop path 0.3
# (Swin's value for this size). Convert the ImageNet checkpoint first:
#   python tools/model_converters/groupmixformer_to_mm.py <official>.pth checkpoints/groupmixformer-b_in1k.pth
_base_ = './mask-rcnn_groupmixformer-t_fpn_1x_coco.py'
model = dict(
    backbone=dict(arch='b', drop_path_rate=0.3, init_cfg=dict(checkpoint='checkpoints/groupmixformer-b_in1k.pth')),
    neck=dict(in_channels=[200, 240, 320, 480]))
