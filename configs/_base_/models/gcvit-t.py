# The GC ViT-T backbone of the detection and segmentation configs, as in the official detection code:
# windows of 24 in every stage (pretrained 7/14 relative-position tables are bicubic-resized on load), and
# stage 3's global-query generator pools so that it sees the whole map before being resized to the window.
# Configs swap it in for mmdet's / mmseg's Swin with `backbone=dict(_base_.gcvit_t_backbone, ...)` (the
# Python-only form of `{{_base_.gcvit_t_backbone}}` that can change a field). Convert the ImageNet checkpoint:
#   python tools/model_converters/gcvit_to_mm.py gcvit_1k_tiny.pth.tar checkpoints/gcvit-t_in1k.pth
gcvit_t_backbone = dict(
    _delete_=True,
    type='backbones.GCViT',
    arch='t',
    window_size=24,
    query_downsample=(True, True, True, False),
    drop_path_rate=0.2,
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='checkpoints/gcvit-t_in1k.pth', prefix='backbone.'))
