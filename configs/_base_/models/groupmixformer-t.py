# The GroupMixFormer-T backbone of the detection and segmentation configs: all four stages feed the neck
# through their own output norms (SyncBN, as the official model hard-codes; BN without CUDA), drop path 0.2
# (Swin's value for this size). No detection/segmentation code was released with GroupMixFormer: the configs
# follow the Swin/DaViT recipes of the shared bases, not a published GroupMixFormer one. Configs swap it in
# for mmdet's / mmseg's Swin with `backbone=dict(_base_.groupmixformer_t_backbone, ...)`. Convert first:
#   python tools/model_converters/groupmixformer_to_mm.py <official>.pth checkpoints/groupmixformer-t_in1k.pth
groupmixformer_t_backbone = dict(
    _delete_=True,
    type='backbones.GroupMixFormer',
    arch='t',
    drop_path_rate=0.2,
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/groupmixformer-t_in1k.pth', prefix='backbone.'))
