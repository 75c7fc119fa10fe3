# GroupMixFormer-S on ImageNet-1K: the official recipe of groupmixformer-m_8xb64_in1k.py with the S arch
# (configs/groupmixformer_small.yaml: drop path 0.2; the README's training command is for this model).
_base_ = './groupmixformer-m_8xb64_in1k.py'
model = dict(backbone=dict(arch='s', drop_path_rate=0.2), head=dict(in_channels=320))
