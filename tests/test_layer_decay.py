"""The layer-wise lr-decay constructor works for mmpretrain classifiers, mmdet detectors and mmseg segmentors."""
import os

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS, init_default_scope

from contract import ROOT

SMALL_ARCH = dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), mlp_ratio=2.)
CONFIGS = {
    'mmpretrain': ('configs/gcvit/gcvit-xxt_8xb128_in1k.py', dict(head=dict(in_channels=128))),
    'mmdet': ('configs/gcvit/retinanet_gcvit-xxt_fpn_1x_coco.py', dict(neck=dict(in_channels=[32, 64, 128]))),
    'mmseg': ('configs/gcvit/upernet_gcvit-xxt_8xb2-160k_ade20k-512x512.py',
              dict(decode_head=dict(in_channels=[16, 32, 64, 128]), auxiliary_head=dict(in_channels=64))),
}


def _build(scope):
    path, overrides = CONFIGS[scope]
    cfg = Config.fromfile(os.path.join(ROOT, path))
    cfg.model.backbone.arch = SMALL_ARCH
    cfg.model.backbone.init_cfg = None
    for key, value in overrides.items():
        cfg.model[key].update(value)
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model)


@pytest.mark.parametrize('scope', sorted(CONFIGS))
def test_lr_decays_with_depth_and_heads_keep_the_base_lr(scope):
    model = _build(scope)
    rate, base_lr = 0.7, 1e-3
    wrapper = build_optim_wrapper(
        model,
        dict(type='OptimWrapper', constructor='backbones.LayerDecayOptimWrapperConstructor',
             optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.05),
             paramwise_cfg=dict(layer_decay_rate=rate, norm_decay_mult=0.)))
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {names[id(g['params'][0])]: g for g in wrapper.optimizer.param_groups}
    assert len(lrs) == sum(1 for p in model.parameters() if p.requires_grad)
    num_layers = sum(SMALL_ARCH['depths']) + 2
    stem = lrs['backbone.patch_embed.proj.weight']
    assert stem['lr'] == pytest.approx(base_lr * rate**(num_layers - 1))
    last_block = lrs['backbone.stages.3.blocks.1.mlp.fc1.weight']
    assert last_block['lr'] == pytest.approx(base_lr * rate**(num_layers - 1 - (num_layers - 2)))
    heads = [g for n, g in lrs.items() if not n.startswith('backbone.')]
    assert heads and all(g['lr'] == pytest.approx(base_lr) for g in heads)
    # mmengine's own paramwise options still apply on top of the decay
    assert lrs['backbone.stages.0.blocks.0.norm1.weight']['weight_decay'] == 0.
    assert lrs['backbone.stages.0.blocks.0.attn.qkv.weight']['weight_decay'] == pytest.approx(0.05)


def test_rejects_models_without_layer_depth():
    import torch.nn as nn

    class NoDepth(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = nn.Linear(2, 2)

    with pytest.raises(TypeError, match='get_layer_depth'):
        build_optim_wrapper(NoDepth(), dict(constructor='backbones.LayerDecayOptimWrapperConstructor',
                                            optimizer=dict(type='SGD', lr=0.1),
                                            paramwise_cfg=dict(layer_decay_rate=0.5)))
    with pytest.raises(ValueError, match='layer_decay_rate'):
        build_optim_wrapper(NoDepth(), dict(constructor='backbones.LayerDecayOptimWrapperConstructor',
                                            optimizer=dict(type='SGD', lr=0.1),
                                            paramwise_cfg=dict(layer_decay_rate=1.5)))
