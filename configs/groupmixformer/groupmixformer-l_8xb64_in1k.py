# GroupMixFormer-L on ImageNet-1K: the official recipe of groupmixformer-m_8xb64_in1k.py with the L arch
# (configs/groupmixformer_large.yaml: drop path 0.1, a value the official file marks "need to adjust";
# it is kept as released).
_base_ = './groupmixformer-m_8xb64_in1k.py'
model = dict(backbone=dict(arch='l', drop_path_rate=0.1), head=dict(in_channels=480))
