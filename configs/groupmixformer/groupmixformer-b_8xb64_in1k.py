# GroupMixFormer-B on ImageNet-1K: the official recipe of groupmixformer-m_8xb64_in1k.py with the B arch
# (configs/groupmixformer_base.yaml: drop path 0.5).
_base_ = './groupmixformer-m_8xb64_in1k.py'
model = dict(backbone=dict(arch='b', drop_path_rate=0.5), head=dict(in_channels=480))
