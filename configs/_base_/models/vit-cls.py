# What the ViT ImageNet configs change in mmpretrain's ViT recipes: the vitzoo backbone
# (type='backbones.ViT', dropout 0.1) gives its class token after the final norm to VisionTransformerClsHead,
# as Google's classifier. Google's fine-tuned classifiers have no pre-logits layer: configs set
# head.hidden_dim=None (mmpretrain's from-scratch recipe adds a 3072-wide one: set head.hidden_dim=3072).
# Google's models take images scaled to [-1, 1] (mean = std = 127.5). Configs pass
# `backbone=dict(_base_.vit_cls_backbone, arch=..., img_size=...)`.
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
vit_cls_backbone = dict(_delete_=True, type='backbones.ViT', drop_rate=0.1, out_type='cls_token')
