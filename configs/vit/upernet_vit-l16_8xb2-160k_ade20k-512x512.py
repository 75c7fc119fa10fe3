# UPerNet with a plain ViT-L/16 backbone on ADE20K (512x512 crops, 160k iterations, AdamW 6e-5 as mmseg's
# ViT/Swin recipes), following mmseg's ViT + MLN configs: layers 5, 11, 17, 23 (every quarter of the depth)
# come out at stride 16 through their own norms and mmseg's MultiLevelNeck rescales them 4x, 2x, 1x and 0.5x
# into a pyramid for UPerHead; the auxiliary FCN head reads the stride-32 level. Layer-wise lr decay 0.75,
# drop path 0.2. img_size=512: the checkpoint's 14x14 position embedding is resized to 32x32 (bilinear) when
# loaded; other sizes (sliding or whole-image test) resize it at run time. Convert first:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
_base_ = './upernet_vit-b16_8xb2-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='l16',
        drop_path_rate=0.2,
        out_indices=(5, 11, 17, 23),
        with_cp=True,  # 24 layers of global attention: checkpoint to fit a batch of 2
        init_cfg=dict(checkpoint='checkpoints/vit-l16_in21k-pre_in1k.pth')),
    neck=dict(in_channels=[1024] * 4, out_channels=1024),
    decode_head=dict(in_channels=[1024] * 4),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
