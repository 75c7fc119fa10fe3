"""DaViT: the backbone contract, converter parity with the official code, and DaViT specifics.

Parity references (``tests/data/davit_{tiny,t}_reference.json``) hold logits computed by the official
dingmyu/davit classifier on deterministic random weights (see :func:`contract.seeded_state_dict`); the
tests rebuild those weights in the official layout, convert them with the CLI and compare.
"""
import copy
import importlib.util
import os
import re

import pytest
import torch
from contract import ROOT, build_classifier, load_reference, load_tool, run_converter, run_tool
from converter_checks import (check_cli_errors, check_dense_load_from_classifier, check_logits,
                              check_refuses_pickled_code, check_unknown_and_missing_keys, official_checkpoint)

from backbones.davit import DaViT

CONVERTER = os.path.join('tools', 'model_converters', 'davit_to_mm.py')


converter = load_tool(CONVERTER, 'davit_to_mm')


def convert(capsys, *args):
    """Run the converter's command line in this process (the CLI itself runs once as a subprocess)."""
    return run_converter(converter, capsys, *args)


# TINY and T_CFG also run the shared backbone checks in test_contract.py.
TINY_ARCH = dict(embed_dims=[16, 32, 48, 64], depths=[1, 1, 2, 1], num_heads=[1, 2, 3, 4], window_size=3)
TINY = dict(type='backbones.DaViT', arch=TINY_ARCH, drop_path_rate=0.)
T_CFG = dict(type='backbones.DaViT', arch='t', drop_path_rate=0.)


# ------------------------------------------------------------------------------------- arch handling
def test_arch_zoo_and_aliases():
    assert DaViT.resolve_arch('tiny') == DaViT.resolve_arch('T')
    expected = {
        't': ((96, 192, 384, 768), (1, 1, 3, 1), (3, 6, 12, 24)),
        's': ((96, 192, 384, 768), (1, 1, 9, 1), (3, 6, 12, 24)),
        'b': ((128, 256, 512, 1024), (1, 1, 9, 1), (4, 8, 16, 32)),
        'l': ((192, 384, 768, 1536), (1, 1, 9, 1), (6, 12, 24, 48)),
        'h': ((256, 512, 1024, 2048), (1, 1, 9, 1), (8, 16, 32, 64)),
        'g': ((384, 768, 1536, 3072), (1, 1, 12, 3), (12, 24, 48, 96))
    }
    for name, (dims, depths, heads) in expected.items():
        arch = DaViT.resolve_arch(name)
        assert (tuple(arch['embed_dims']), tuple(arch['depths']), tuple(arch['num_heads'])) == (dims, depths, heads)


@pytest.mark.parametrize('arch, word', [
    ({
        'embed_dims': [16, 32, 48, 64],
        'depths': [1, 1, 1, 1]
    }, 'num_heads'),
    (dict(TINY_ARCH, window=3), 'window'),
    (dict(TINY_ARCH, embed_dims=[16, 32, 48]), 'embed_dims'),
    (dict(TINY_ARCH, num_heads=[3, 2, 3, 4]), 'num_heads'),
    (dict(TINY_ARCH, window_size=0), 'window_size'),
    (dict(TINY_ARCH, mlp_ratio=-1), 'mlp_ratio'),
    ('tinyy', 'tinyy'),
])
def test_custom_arch_errors_name_the_key(arch, word):
    with pytest.raises(ValueError, match=re.escape(word)):
        DaViT(arch=arch)


def test_out_norm_after_pool_needs_last_stage():
    with pytest.raises(ValueError, match='out_norm_after_pool'):
        DaViT(TINY_ARCH, out_indices=(0, 1), out_norm_after_pool=True)


def test_out_norm_after_pool_is_norm_of_pooled_map():
    dense = DaViT(TINY_ARCH, out_indices=(2, 3)).eval()
    pooled = DaViT(TINY_ARCH, out_indices=(2, 3), out_norm_after_pool=True).eval()
    pooled.load_state_dict(dense.state_dict())
    with torch.no_grad():
        torch.nn.init.normal_(dense.norm3.weight)
        pooled.norm3.load_state_dict(dense.norm3.state_dict())
        x = torch.randn(2, 3, 61, 75)
        stage2, last = pooled(x)
        dense_outs = dense(x)
        # Undo norm3 on the dense output is impossible, so compare against the stage map itself.
        dense.norm3 = torch.nn.Identity()
        raw = dense(x)[1]
    torch.testing.assert_close(stage2, dense_outs[0])
    assert last.shape == (2, 64, 1, 1)
    torch.testing.assert_close(last.flatten(1), pooled.norm3(raw.mean(dim=(2, 3))), rtol=1e-5, atol=1e-6)


def test_drop_path_layout_matches_official():
    """One rate per block, spatial and channel blocks counted separately, rising over all of them."""
    model = DaViT('t', drop_path_rate=0.2)
    rates = []
    for stage in model.stages:
        for block in stage.blocks:
            for sub in (block.spatial, block.channel):
                rates.append(getattr(sub.drop_path, 'drop_prob', 0.))
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.2, 12), rtol=0, atol=1e-7)


def test_layer_depth():
    model = DaViT('t')
    assert model.num_layers == 6 + 2
    assert model.get_layer_depth('backbone.patch_embed.proj.weight', 'backbone.') == (0, 8)
    assert model.get_layer_depth('backbone.stages.0.blocks.0.spatial.attn.qkv.weight', 'backbone.')[0] == 1
    assert model.get_layer_depth('backbone.stages.2.blocks.2.channel.mlp.fc1.weight', 'backbone.')[0] == 5
    assert model.get_layer_depth('backbone.stages.3.downsample.proj.weight', 'backbone.')[0] == 5
    assert model.get_layer_depth('backbone.stages.3.blocks.0.channel.norm1.bias', 'backbone.')[0] == 6
    assert model.get_layer_depth('head.fc.weight', 'backbone.')[0] == 7
    for name, _ in model.named_parameters():
        assert 0 <= model.layer_depth_of(name) < model.num_layers - 1, name


def test_pretrained_dense_load_from_classifier(tmp_path):
    """A converted classifier loads into the 4-output backbone with prefix='backbone.'."""
    check_dense_load_from_classifier(dict(TINY, out_indices=(3, ), out_norm_after_pool=True), TINY, 64, tmp_path)


# ----------------------------------------------------------------------------------- converter parity
def _official_checkpoint(reference, tmp_path, wrap=True):
    return official_checkpoint(reference, tmp_path, 'state_dict' if wrap else None)


def _classifier_for(reference):
    arch = reference['arch']
    dims = arch['embed_dims'] if isinstance(arch, dict) else DaViT.resolve_arch(arch)['embed_dims']
    backbone = dict(type='backbones.DaViT', arch=arch, out_indices=(3, ), out_norm_after_pool=True)
    return build_classifier(backbone, dims[-1], reference['num_classes']).eval()


def _check_logits(reference, converted_path):
    return check_logits(_classifier_for(reference), reference, converted_path)


def test_converter_cli_parity_with_official_t(tmp_path):
    reference = load_reference('davit_t_reference')
    src, _ = _official_checkpoint(reference, tmp_path)
    dst = str(tmp_path / 'converted.pth')
    result = run_tool(CONVERTER, src, dst)
    assert 'wrote 212 tensors' in result.stdout and 'arch=t' in result.stdout and 'layout=official' in result.stdout
    checkpoint = _check_logits(reference, dst)
    assert checkpoint['meta']['arch'] == 't'


def test_converter_parity_with_official_tiny(tmp_path, capsys):
    reference = load_reference('davit_tiny_reference')
    src, _ = _official_checkpoint(reference, tmp_path, wrap=False)
    dst = str(tmp_path / 'converted.pth')
    code, out, _ = convert(capsys, src, dst)
    assert code == 0 and 'arch=custom' in out
    _check_logits(reference, dst)


def test_converter_accepts_timm_and_mmpretrain_layouts(tmp_path, capsys):
    """timm's and mmpretrain's renamings of the official weights convert to the same model."""
    reference = load_reference('davit_tiny_reference')
    _, official = _official_checkpoint(reference, tmp_path)
    from timm.models.davit import checkpoint_filter_fn
    timm_path = str(tmp_path / 'timm.pth')
    torch.save(checkpoint_filter_fn(copy.deepcopy(official), None), timm_path)
    assert convert(capsys, timm_path, str(tmp_path / 'from_timm.pth'))[0] == 0
    _check_logits(reference, str(tmp_path / 'from_timm.pth'))

    import mmpretrain
    tool = os.path.join(os.path.dirname(mmpretrain.__file__), '.mim', 'tools', 'model_converters',
                        'davit_to_mmpretrain.py')
    spec = importlib.util.spec_from_file_location('davit_to_mmpretrain', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    mmpretrain_path = str(tmp_path / 'mmpretrain.pth')
    torch.save({'state_dict': module.convert_davit(copy.deepcopy(official))}, mmpretrain_path)
    code, out, _ = convert(capsys, mmpretrain_path, str(tmp_path / 'from_mmpretrain.pth'))
    assert code == 0 and 'layout=mmpretrain' in out
    _check_logits(reference, str(tmp_path / 'from_mmpretrain.pth'))


def test_converter_refuses_pickled_code(tmp_path, capsys):
    check_refuses_pickled_code(convert, capsys, tmp_path, 'state_dict')


def test_converter_errors(tmp_path, capsys):
    reference = load_reference('davit_tiny_reference')
    src, state_dict = _official_checkpoint(reference, tmp_path)
    dst = str(tmp_path / 'out.pth')
    # An unknown key is named; a missing key is named by the strict load.
    check_unknown_and_missing_keys(convert, capsys, tmp_path, state_dict, dst, ('main_blocks.0.0.0.extra.weight', ) * 2,
                                   ('main_blocks.2.1.1.attn.qkv.bias', 'stages.2.blocks.1.channel.attn.qkv.bias'),
                                   _classifier_for(reference))
    # Not a DaViT checkpoint at all; --arch must match the shapes; no overwrite without --force.
    check_cli_errors(convert, capsys, tmp_path, src, dst, ['not a DaViT checkpoint'], 't')


# ------------------------------------------------------------------------------------------- configs
def test_configs_match_the_backbone():
    """Every DaViT config names the registered backbone and feeds its heads the right widths."""
    import glob
    from mmengine.config import Config
    paths = sorted(glob.glob(os.path.join(ROOT, 'configs', 'davit', '*.py')))
    assert len(paths) == 3 + 3 * 4 + 3
    for path in paths:
        cfg = Config.fromfile(path)
        backbone = cfg.model.backbone
        assert backbone.type == 'backbones.DaViT', path
        dims = DaViT.resolve_arch(backbone.arch)['embed_dims']
        widths = [dims[i] for i in backbone.out_indices]
        if 'in1k' in path:
            assert backbone.out_norm_after_pool and cfg.model.head.in_channels == dims[-1], path
        elif 'upernet' in path:
            assert list(cfg.model.decode_head.in_channels) == widths and cfg.model.auxiliary_head.in_channels == dims[2]
        else:
            assert list(cfg.model.neck.in_channels) == widths, path
            assert backbone.init_cfg.prefix == 'backbone.' and backbone.init_cfg.type == 'Pretrained'
