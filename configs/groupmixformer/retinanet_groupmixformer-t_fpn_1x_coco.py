# RetinaNet with a GroupMixFormer-T backbone (../_base_/models/groupmixformer-t.py), 12 epochs, FPN from
# stage 1 (stride 8).
_base_ = ['../_base_/retinanet_fpn_adamw_1x_coco.py', '../_base_/models/groupmixformer-t.py']
model = dict(backbone=dict(_base_.groupmixformer_t_backbone, out_indices=(1, 2, 3)),
             neck=dict(in_channels=[160, 200, 240]))
