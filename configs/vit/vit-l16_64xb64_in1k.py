# ViT-L/16 on ImageNet-1K at 224 (../_base_/models/vit-cls.py), mmpretrain's ViT recipe otherwise (AdamW,
# batch 4096, Mixup, clip 1.0). Google's ImageNet-21k pre-trained, ImageNet-1k fine-tuned ViT-L_16-224.npz
# evaluates with this config:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
#   python tools/test.py configs/vit/vit-l16_64xb64_in1k.py checkpoints/vit-l16_in21k-pre_in1k.pth
_base_ = ['mmpretrain::vision_transformer/vit-large-p16_64xb64_in1k.py', '../_base_/models/vit-cls.py']
model = dict(backbone=dict(_base_.vit_cls_backbone, arch='l16', img_size=224, with_cp=True),
             head=dict(in_channels=1024, hidden_dim=None))
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True)
