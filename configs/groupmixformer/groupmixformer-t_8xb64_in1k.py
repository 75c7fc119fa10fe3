# GroupMixFormer-T on ImageNet-1K: the official recipe of groupmixformer-m_8xb64_in1k.py with the T arch
# (configs/groupmixformer_tiny.yaml: drop path 0.1).
_base_ = './groupmixformer-m_8xb64_in1k.py'
model = dict(backbone=dict(arch='t', drop_path_rate=0.1), head=dict(in_channels=240))
