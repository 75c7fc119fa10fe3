# ViT-B/32 on ImageNet-1K at 224 (../_base_/models/vit-cls.py), mmpretrain's ViT recipe otherwise (AdamW,
# batch 4096, Mixup, clip 1.0). No ImageNet-1k model at 224 was released for this variant (the released one
# is at 384: see the -384px config); a converted 21k checkpoint (vit_to_mm.py) can initialise fine-tuning
# through init_cfg.
_base_ = ['mmpretrain::vision_transformer/vit-base-p32_64xb64_in1k.py', '../_base_/models/vit-cls.py']
model = dict(backbone=dict(_base_.vit_cls_backbone, arch='b32', img_size=224),
             head=dict(in_channels=768, hidden_dim=None))
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True)
