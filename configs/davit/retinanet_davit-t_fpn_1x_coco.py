# RetinaNet with a DaViT-T backbone, 12 epochs: the official DaViT recipe (AdamW 1e-4, wd 0.05, drop path
# 0.1; reported 44.0 AP), which trains its 1x schedule with the DETR multi-scale + crop augmentation too:
# the 3x config shortened to 12 epochs.
_base_ = './retinanet_davit-t_fpn_3x_coco.py'
model = dict(backbone=dict(drop_path_rate=0.1))
max_epochs = 12
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = _base_.davit_1x_param_scheduler
