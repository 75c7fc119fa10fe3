# R50+ViT-B/16 on ImageNet-1K at 224 with the vitzoo backbone (type='backbones.ViT'): class token after the
# final norm -> VisionTransformerClsHead, as Google's classifier. mmpretrain's ViT recipe otherwise (AdamW,
# batch 4096, Mixup, clip 1.0), except the head: Google's fine-tuned classifiers have no pre-logits layer
# (hidden_dim=None); mmpretrain's from-scratch recipe adds a 3072-wide one (set head.hidden_dim=3072). No
# ImageNet-1k model at 224 was released for this variant (the released one is at 384: see the -384px config);
# a converted 21k checkpoint (vit_to_mm.py) can initialise fine-tuning through init_cfg. Google's models take
# images scaled to [-1, 1] (mean = std = 127.5).
_base_ = 'mmpretrain::vision_transformer/vit-base-p16_64xb64_in1k.py'
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        _delete_=True,
        type='backbones.ViT',
        arch='r50-b16',
        img_size=224,
        drop_rate=0.1,
        out_type='cls_token'),
    head=dict(in_channels=768, hidden_dim=None))
data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], to_rgb=True)
