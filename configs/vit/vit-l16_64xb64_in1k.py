# ViT-L/16 on ImageNet-1K at 224 with the vitzoo backbone (type='backbones.ViT'): class token after the final
# norm -> VisionTransformerClsHead, as Google's classifier. mmpretrain's ViT recipe otherwise (AdamW, batch
# 4096, Mixup, clip 1.0), except the head: Google's fine-tuned classifiers have no pre-logits layer
# (hidden_dim=None); mmpretrain's from-scratch recipe adds a 3072-wide one (set head.hidden_dim=3072).
# Google's ImageNet-21k pre-trained, ImageNet-1k fine-tuned ViT-L_16-224.npz evaluates with this config:
#   python tools/model_converters/vit_to_mm.py ViT-L_16-224.npz checkpoints/vit-l16_in21k-pre_in1k.pth
#   python tools/test.py configs/vit/vit-l16_64xb64_in1k.py checkpoints/vit-l16_in21k-pre_in1k.pth
# Google's models take images scaled to [-1, 1] (mean = std = 127.5).
_base_ = 'mmpretrain::vision_transformer/vit-large-p16_64xb64_in1k.py'
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.ViT',
        arch='l16',
        img_size=224,
        drop_rate=0.1,
        out_type='cls_token',
        with_cp=True),
    head=dict(in_channels=1024, hidden_dim=None))
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True)
