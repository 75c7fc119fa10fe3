# The small GroupMixFormer that the README's demo trains on all three tasks (0.8M parameters in the
# classifier): GroupMixFormer-M's layout at half its width and a quarter of its depth. Its convolutional
# parts are BatchNorm-normalised, which lets it leave chance level within tens of steps on the embedded
# digits, where a GC ViT of the same size (LayerNorm only) sits at chance for hundreds of steps and, from
# one run to the next, sometimes never leaves it. Configs list this file in `_base_` and use
# `dict(_base_.groupmixformer_demo_backbone, ...)`; the dense tasks start from the classification demo's
# weights, which tools/demo.py publishes (publish_model.py), and the classifier itself sets `init_cfg=None`.
groupmixformer_demo_backbone = dict(
    _delete_=True,
    type='backbones.GroupMixFormer',
    arch=dict(embed_dims=(40, 80, 160, 160), depths=(1, 1, 2, 1), mlp_ratios=(2, 2, 2, 2)),
    drop_path_rate=0.,
    norm_cfg=dict(type='SyncBN', requires_grad=True),  # BN on machines without CUDA
    out_indices=(0, 1, 2, 3),
    init_cfg=dict(type='Pretrained', checkpoint='work_dirs/demo/groupmixformer-demo_embedded-in1k.pth',
                  prefix='backbone.'))
