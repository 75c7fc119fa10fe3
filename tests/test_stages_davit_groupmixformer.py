"""DaViT and GroupMixFormer: stages that run themselves, ``feature_info``, no ``fused_attn`` argument."""
import pytest
import torch

from backbones.davit import DaViT
from backbones.groupmixformer import GroupMixFormer

TINY = {
    DaViT: dict(arch=dict(embed_dims=(16, 32, 48, 64), depths=(1, 1, 2, 1), num_heads=(1, 2, 3, 4), window_size=3)),
    GroupMixFormer: dict(arch=dict(embed_dims=(40, 40, 80, 80), depths=(1, 1, 2, 1), mlp_ratios=(4, 4, 4, 4))),
}
FAMILIES = pytest.mark.parametrize('cls', list(TINY), ids=lambda cls: cls.__name__)


@FAMILIES
@pytest.mark.parametrize('out_indices', [(3, ), (1, 3), (0, 1, 2, 3)])
def test_feature_info_gives_out_channels(cls, out_indices):
    """``feature_info`` describes every stage (timm style) and ``out_channels`` matches the outputs."""
    model = cls(**TINY[cls], out_indices=out_indices).eval()
    dims = model.arch_settings['embed_dims']
    assert [info['num_chs'] for info in model.feature_info] == list(dims)
    assert [info['reduction'] for info in model.feature_info] == [4, 8, 16, 32]
    modules = dict(model.named_modules())
    assert all(info['module'] in modules for info in model.feature_info)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 96))
    assert model.out_channels == [o.shape[1] for o in outs] == [dims[i] for i in out_indices]


@FAMILIES
def test_grad_checkpointing_reaches_every_stage(cls):
    """``with_cp`` reaches every stage, whose blocks then run again in the backward pass."""
    model = cls(**TINY[cls], with_cp=True).train()
    calls = []
    block = model.stages[2].blocks[1]
    unit = block.spatial if cls is DaViT else block  # DaViT checkpoints each half of its blocks
    forward = unit.forward
    unit.forward = lambda *args: (calls.append(1), forward(*args))[1]  # (hooks do not run in the recomputation)
    sum(o.sum() for o in model(torch.randn(2, 3, 64, 64))).backward()
    assert len(calls) == 2  # forward, then the recomputation
    model.set_grad_checkpointing(False)
    calls.clear()
    sum(o.sum() for o in model(torch.randn(2, 3, 64, 64))).backward()
    assert not any(m.with_cp for m in model.modules() if 'with_cp' in vars(m)) and len(calls) == 1


@FAMILIES
def test_no_fused_attn_argument(cls):
    """The fused path is switched by ``set_fused_attention`` only (checked for every family by the contract
    suite); the old constructor argument is refused."""
    assert all(m.fused_attn for m in cls(**TINY[cls]).modules() if 'fused_attn' in vars(m))
    with pytest.raises(TypeError):
        cls(**TINY[cls], fused_attn=False)
