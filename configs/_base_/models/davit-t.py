# The DaViT-T backbone of the detection and segmentation configs (drop path 0.2, all four stages out);
# configs swap it in for mmdet's / mmseg's Swin with `backbone=dict(_base_.davit_t_backbone, ...)`.
# Convert the ImageNet checkpoint first:
#   python tools/model_converters/davit_to_mm.py DaViT_tiny.pth.tar checkpoints/davit-t_in1k.pth
davit_t_backbone = dict(
    _delete_=True,
    type='backbones.DaViT',
    arch='t',
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/davit-t_in1k.pth', prefix='backbone.'))
# The official 1x schedule is the multi-scale + crop 3x one shortened to 12 epochs (steps at 8 and 11).
davit_1x_param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1)
]
