# ViT-H/14 on ImageNet-1K at 224 (../_base_/models/vit-cls.py), mmpretrain's ViT recipe otherwise (AdamW,
# batch 4096, Mixup, clip 1.0). No ImageNet-1k model at 224 was released for this variant (H/14 came as
# ImageNet-21k weights only); a converted 21k checkpoint (vit_to_mm.py) can initialise fine-tuning through
# init_cfg. The base is mmpretrain's ViT-L/16 recipe: ViT-H/14 replaces its model.
_base_ = ['mmpretrain::vision_transformer/vit-large-p16_64xb64_in1k.py', '../_base_/models/vit-cls.py']
model = dict(backbone=dict(_base_.vit_cls_backbone, arch='h14', img_size=224, with_cp=True),
             head=dict(in_channels=1280, hidden_dim=None))
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True)
