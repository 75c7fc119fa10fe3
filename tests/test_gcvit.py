"""GC ViT: the backbone contract, converter parity with the official model, and any-size behaviour."""
import os

import pytest
import torch

from backbones import GCViT
from backbones.layers import resize_relative_position_table
from contract import (CodePayload, build_backbone, build_classifier, decode_floats, load_reference, run_tool,
                      seeded_input, seeded_state_dict)

# TINY also runs the shared backbone checks in test_contract.py.
# Two blocks per stage, so that every stage has a global block (and its query generator gets gradients).
TINY_ARCH = dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), mlp_ratio=2., layer_scale=1e-5)
TINY = dict(type='backbones.GCViT', arch=TINY_ARCH, drop_path_rate=0.)
CONVERTER = 'tools/model_converters/gcvit_to_mm.py'


def test_variants_match_the_paper():
    # Backbone parameter counts (the papers' totals include the 1000-class head).
    expected_millions = {'xxt': 12, 'xt': 20, 't': 28, 's': 51, 'b': 90}
    for arch, total in expected_millions.items():
        model = GCViT(arch, out_indices=(3, ))
        params = sum(p.numel() for p in model.parameters()) + model.embed_dims[3] * 1001
        assert abs(params / 1e6 - total) < 0.6, (arch, params)
    assert GCViT('tiny').arch_settings == GCViT('t').arch_settings
    assert GCViT('s').stages[0].blocks[0].gamma1 is not None and GCViT('xt').stages[0].blocks[0].gamma1 is None


def test_bad_arch_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown arch 'huge'.*'xxt'"):
        GCViT('huge')
    with pytest.raises(ValueError, match=r"missing keys \['num_heads'\]"):
        GCViT(dict(embed_dims=16, depths=(1, 1, 1, 1), mlp_ratio=2.))
    with pytest.raises(ValueError, match=r"unknown keys \['heads'\]"):
        GCViT(dict(TINY_ARCH, heads=3))
    with pytest.raises(ValueError, match='out_indices entry 4'):
        GCViT(TINY_ARCH, out_indices=(4, ))
    with pytest.raises(ValueError, match='frozen_stages=7'):
        GCViT(TINY_ARCH, frozen_stages=7)


def test_layer_depth_is_monotonic_through_the_network():
    model = GCViT(TINY_ARCH)
    num_layers = sum(TINY_ARCH['depths']) + 2
    assert model.get_layer_depth('backbone.patch_embed.proj.weight', 'backbone.') == (0, num_layers)
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (num_layers - 1, num_layers)
    depths = [model.get_layer_depth('backbone.' + n, 'backbone.')[0] for n, _ in model.named_parameters()]
    order = [model.layer_depth_of(n) for n in
             ('stages.0.blocks.0.norm1.weight', 'stages.1.global_query.blocks.0.conv.dw_conv.weight',
              'stages.1.blocks.1.mlp.fc1.weight', 'stages.2.blocks.0.attn.qkv.weight', 'norm3.weight')]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert min(depths) == 0 and max(depths) == num_layers - 2


def _convert_reference(name, tmp_path):
    ref = load_reference(name)
    official = seeded_state_dict(ref['manifest'], ref['seed'])
    index_keys = [k for k in official if k.endswith('relative_position_index')]
    from backbones.layers import RelativePositionBias
    for key in index_keys:  # the official index buffer is the standard one, not random
        window = int(round(official[key].shape[0]**0.5))
        official[key] = RelativePositionBias(window, 1).relative_position_index.clone()
    src, dst = tmp_path / 'official.pth.tar', tmp_path / 'converted.pth'
    torch.save({'state_dict': official, 'epoch': 300}, src)
    run_tool(CONVERTER, str(src), str(dst))
    return ref, dst


@pytest.mark.parametrize('name', ['gcvit_tiny_reference', 'gcvit_xxt_reference'])
def test_converted_checkpoint_reproduces_official_logits(name, tmp_path):
    ref, dst = _convert_reference(name, tmp_path)
    arch = ref['arch']
    model = build_classifier(dict(type='backbones.GCViT', arch=arch, out_indices=(3, )),
                             arch['embed_dims'] * 8, ref['num_classes']).eval()
    model.load_state_dict(torch.load(dst, weights_only=True)['state_dict'], strict=True)
    x = seeded_input(ref['input_shape'], ref['input_seed'])
    want = decode_floats(ref['logits'], (ref['input_shape'][0], ref['num_classes']))
    with torch.no_grad():
        got = model(x, mode='tensor')
    # float32 round-off relative to the logits' scale
    assert (got - want).abs().max() <= 1e-5 * max(1.0, want.abs().max().item()), (got - want).abs().max()


def test_dense_config_loads_converted_classifier_with_resized_tables(tmp_path):
    ref, dst = _convert_reference('gcvit_tiny_reference', tmp_path)
    cfg = dict(type='backbones.GCViT', arch=ref['arch'], window_size=24, query_downsample=(True, True, True, False),
               init_cfg=dict(type='Pretrained', checkpoint=str(dst), prefix='backbone.'))
    model = build_backbone(cfg)
    model.init_weights()
    source = torch.load(dst, weights_only=True)['state_dict']
    key = 'stages.2.blocks.1.attn.rel_pos.relative_position_bias_table'
    loaded = model.state_dict()[key]
    assert loaded.shape == (47 * 47, 2)
    torch.testing.assert_close(loaded, resize_relative_position_table(source['backbone.' + key], (24, 24)))
    torch.testing.assert_close(model.state_dict()['stages.0.blocks.0.mlp.fc1.weight'],
                               source['backbone.stages.0.blocks.0.mlp.fc1.weight'])
    with torch.no_grad():
        outs = model.eval()(torch.randn(1, 3, 97, 131))
    assert all(torch.isfinite(o).all() for o in outs)


def test_converter_ema_and_errors(tmp_path):
    ref = load_reference('gcvit_tiny_reference')
    weights = seeded_state_dict(ref['manifest'], ref['seed'])
    weights = {k: v for k, v in weights.items() if not k.endswith('relative_position_index')}
    ema = {k: v + 1 for k, v in weights.items()}
    src = tmp_path / 'official.pth.tar'
    torch.save({'state_dict': weights, 'state_dict_ema': ema}, src)
    out = tmp_path / 'ema.pth'
    run_tool(CONVERTER, str(src), str(out), '--ema')
    converted = torch.load(out, weights_only=True)['state_dict']
    torch.testing.assert_close(converted['head.fc.weight'], ema['head.weight'])
    torch.testing.assert_close(converted['backbone.norm3.bias'], ema['norm.bias'])
    # no overwrite without --force, and the existing file is untouched
    before = os.path.getmtime(out)
    result = run_tool(CONVERTER, str(src), str(out), check=False)
    assert result.returncode == 2 and 'pass --force' in result.stderr and os.path.getmtime(out) == before
    # an unknown key is reported by name, and nothing is written
    torch.save({'state_dict': dict(weights, extra_thing=torch.zeros(1))}, src)
    result = run_tool(CONVERTER, str(src), str(tmp_path / 'bad.pth'), check=False)
    assert result.returncode == 2 and 'extra_thing' in result.stderr and not (tmp_path / 'bad.pth').exists()


def test_converter_refuses_checkpoint_with_code(tmp_path):
    src = tmp_path / 'evil.pth'
    marker = tmp_path / 'code-ran'
    torch.save({'state_dict': {'head.weight': torch.zeros(1)}, 'payload': CodePayload(marker)}, src)
    result = run_tool(CONVERTER, str(src), str(tmp_path / 'out.pth'), check=False)
    assert result.returncode == 2
    assert result.stderr.count('\n') == 1 and 'refusing evil.pth' in result.stderr, result.stderr
    assert 'Traceback' not in result.stderr
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()
