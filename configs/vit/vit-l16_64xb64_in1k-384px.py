# ViT-L/16 on ImageNet-1K at 384 (../_base_/models/vit-cls.py): Google's ImageNet-21k pre-trained, ImageNet-1k
# fine-tuned ViT-L_16.npz (released at 384; its 24x24 position embedding loads as is). Evaluate it with:
#   python tools/model_converters/vit_to_mm.py ViT-L_16.npz checkpoints/vit-l16_in21k-pre_in1k-384px.pth
#   python tools/test.py configs/vit/vit-l16_64xb64_in1k-384px.py checkpoints/vit-l16_in21k-pre_in1k-384px.pth
# mmpretrain's 384 recipe otherwise (images scaled to [-1, 1], short side 384 + centre crop, clip 1.0).
_base_ = ['mmpretrain::vision_transformer/vit-large-p16_64xb64_in1k-384px.py', '../_base_/models/vit-cls.py']
model = dict(backbone=dict(_base_.vit_cls_backbone, arch='l16', img_size=384, with_cp=True),
             head=dict(in_channels=1024, hidden_dim=None))
