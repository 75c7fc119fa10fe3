"""ViT and R50+ViT: the backbone contract, position-embedding resizing, converter parity with the
reference implementation, the attention visualisation tool and the simple feature pyramid neck.

Parity references (``tests/data/vit_{tiny,tiny-hybrid,b16,r50-b16}_reference.json``) hold logits that
jeonsworld/ViT-pytorch computed, at 224 and at 384 (position embeddings resized by its loader), after
loading deterministic random weights in Google's ``.npz`` layout: :func:`npz_arrays` regenerates them,
the test writes a real ``.npz``, converts it with the CLI and compares the classifier's logits.
"""
import json
import os
import re

import numpy as np
import pytest
import torch
from contract import (build_backbone, decode_floats, load_reference, load_tool, run_converter, run_tool, seeded_input,
                      seeded_state_dict)

from backbones.vit import ViT, resize_pos_embed

CONVERTER = os.path.join('tools', 'model_converters', 'vit_to_mm.py')
VIS_ATTENTION = os.path.join('tools', 'analysis_tools', 'vis_attention.py')
# TINY, TINY_HYBRID and ODD_SIZES also run the shared backbone checks in test_contract.py.
TINY_ARCH = dict(embed_dims=64, depth=3, num_heads=2, mlp_dims=128, patch_size=16)
TINY_HYBRID_ARCH = dict(embed_dims=64, depth=2, num_heads=2, mlp_dims=128, patch_size=1, resnet_units=(1, 2, 1),
                        resnet_width=32)
TINY = dict(type='backbones.ViT', arch=TINY_ARCH, out_indices=(0, 1, 2))
TINY_HYBRID = dict(type='backbones.ViT', arch=TINY_HYBRID_ARCH, out_indices=(0, 1))
ODD_SIZES = [(32, 32), (97, 131), (333, 517), (224, 224)]


def vit_classifier(arch, num_classes, img_size=224, hidden_dim=None):
    """The classification layout the converter writes: class token, no neck, ``VisionTransformerClsHead``."""
    from mmpretrain.registry import MODELS
    dims = (arch if isinstance(arch, dict) else ViT.resolve_arch(arch))['embed_dims']
    return MODELS.build(
        dict(type='ImageClassifier',
             backbone=dict(type='backbones.ViT', arch=arch, img_size=img_size, out_type='cls_token'),
             neck=None,
             head=dict(type='VisionTransformerClsHead', num_classes=num_classes, in_channels=dims,
                       hidden_dim=hidden_dim)))


def load_converter():
    """The converter module, to run its command line in-process (the CLI itself is run as a subprocess once)."""
    return load_tool(CONVERTER, 'vit_to_mm')


def npz_arrays(manifest, seed):
    """Google-layout arrays behind a reference: :func:`contract.seeded_state_dict` over the manifest with
    '/' read as '.' and a final 'scale' as 'weight' (LayerNorm/GroupNorm scales are norm weights)."""
    def alias(key):
        key = key.replace('/', '.')
        return key[:-len('scale')] + 'weight' if key.endswith('.scale') else key

    state_dict = seeded_state_dict([[alias(k), shape] for k, shape in manifest], seed)
    return {k: state_dict[alias(k)].numpy() for k, _ in manifest}


# ------------------------------------------------------------------------------------------ contract
# The shared checks run in test_contract.py; ViT's frozen stages also freeze the position tables.
@pytest.mark.parametrize('cfg, frozen', [(TINY, 0), (dict(TINY, out_indices=(2, )), 2),
                                         (dict(TINY_HYBRID, out_indices=(1, )), 1)])
def test_frozen_stages_freeze_position_tables(cfg, frozen):
    model = build_backbone(dict(cfg, frozen_stages=frozen)).train()
    assert not model.patch_embed.pos_embed.requires_grad and not model.patch_embed.cls_token.requires_grad


# ------------------------------------------------------------------------------------- arch handling
def test_arch_zoo_sizes():
    expected = {'b16': (768, 12, 12, 3072, 16), 'b32': (768, 12, 12, 3072, 32), 'l16': (1024, 24, 16, 4096, 16),
                'l32': (1024, 24, 16, 4096, 32), 'h14': (1280, 32, 16, 5120, 14), 'r50-b16': (768, 12, 12, 3072, 1)}
    for name, values in expected.items():
        arch = ViT.resolve_arch(name)
        assert tuple(arch[k] for k in ViT.arch_keys) == values
    assert ViT.resolve_arch('R50-ViT-B_16') == ViT.resolve_arch('r50-b16')
    assert ViT.resolve_arch('ViT-L_32') == ViT.resolve_arch('l32')
    # The reference's parameter counts (without head): 85.8M for B/16, 97.9M for R50+B/16.
    with torch.device('meta'):  # shapes only: nothing allocated or initialised
        assert sum(p.numel() for p in ViT('r50-b16').parameters()) == 97_890_112
        assert sum(p.numel() for p in ViT('b16').parameters()) == 85_798_656


def test_hybrid_stem_matches_reference_geometry():
    """Max-pool without padding: 224 -> 112 -> 55 -> 55 -> 28 -> 14."""
    with torch.device('meta'):
        stem = ViT('r50-b16').patch_embed.resnet
    stem = stem.to_empty(device='cpu')
    assert stem.root.pool.padding == 0
    with torch.no_grad():
        assert stem.root(torch.zeros(1, 3, 224, 224)).shape[-1] == 55
    assert [len(s) for s in stem.stages] == [3, 4, 9] and stem.out_channels == 1024
    assert stem.root.conv.eps == 1e-5 and stem.stages[0][0].downsample.norm.num_groups == 256


@pytest.mark.parametrize('arch, kwargs, word', [
    ('b17', {}, 'b17'),
    (dict(TINY_ARCH, heads=2), {}, 'heads'),
    ({'embed_dims': 64}, {}, 'depth'),
    (TINY_ARCH, dict(out_indices=(3, )), 'out_indices'),
    (TINY_ARCH, dict(out_type='cls_token', out_indices=(0, )), 'cls_token'),
    (TINY_ARCH, dict(out_type='avg'), 'out_type'),
    (dict(TINY_ARCH, num_heads=3), {}, 'num_heads'),
])
def test_errors_name_the_problem(arch, kwargs, word):
    with pytest.raises(ValueError, match=re.escape(word)):
        ViT(arch, **kwargs)


def test_layer_depth():
    model = ViT(TINY_ARCH, out_indices=(1, 2))
    assert model.num_stages == 3 and model.num_layers == 5
    assert model.get_layer_depth('backbone.patch_embed.pos_embed', 'backbone.') == (0, 5)
    assert model.get_layer_depth('backbone.layers.0.attn.qkv.weight', 'backbone.') == (1, 5)
    assert model.get_layer_depth('backbone.layers.2.mlp.fc2.bias', 'backbone.') == (3, 5)
    assert model.get_layer_depth('backbone.norm2.weight', 'backbone.') == (3, 5)
    assert model.get_layer_depth('head.layers.head.weight', 'backbone.') == (4, 5)


def test_layers_after_last_output_are_skipped():
    model = ViT(TINY_ARCH, out_indices=(1, )).eval()
    calls = []
    model.layers[2].register_forward_hook(lambda *args: calls.append(1))
    model(torch.randn(1, 3, 64, 64))
    assert not calls


def test_cls_token_output_and_classifier():
    model = vit_classifier(TINY_ARCH, 7).eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(2, 3, 97, 131))
        logits = model(torch.randn(2, 3, 97, 131), mode='tensor')
    assert len(feats) == 1 and feats[0].shape == (2, 64)
    assert logits.shape == (2, 7)


def test_layer_decay_constructor_groups():
    from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
    model = vit_classifier(TINY_ARCH, 7)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        dict(type='backbones.LayerDecayOptimWrapperConstructor',
             optim_wrapper_cfg=dict(optimizer=dict(type='SGD', lr=1.0, momentum=0.9)),
             paramwise_cfg=dict(layer_decay_rate=0.5)))
    optimizer = constructor(model).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    lrs = {names[id(g['params'][0])]: g['lr'] for g in optimizer.param_groups}
    assert lrs['backbone.patch_embed.pos_embed'] == 0.5**4
    assert lrs['backbone.layers.0.attn.qkv.weight'] == 0.5**3
    assert lrs['backbone.layers.2.attn.qkv.weight'] == 0.5
    assert lrs['head.layers.head.weight'] == 1.0


# ------------------------------------------------------------------------------ position embeddings
def test_resize_matches_reference_loader_interpolation():
    """The reference loader zooms the grid with scipy.ndimage.zoom(order=1): bilinear, aligned corners."""
    ndimage = pytest.importorskip('scipy.ndimage')
    pos = torch.randn(1, 1 + 14 * 14, 8)
    resized = resize_pos_embed(pos, (14, 14), (24, 24))
    grid = pos[0, 1:].reshape(14, 14, 8).numpy()
    expected = ndimage.zoom(grid, (24 / 14, 24 / 14, 1), order=1).reshape(1, 24 * 24, 8)
    torch.testing.assert_close(resized[:, 1:], torch.from_numpy(expected), rtol=0, atol=1e-6)
    assert torch.equal(resized[:, :1], pos[:, :1])


def test_pos_embed_resized_at_run_time_equals_resized_on_load(tmp_path):
    """A 224 model run at 97x131 gives what a 97x131 model loaded from it gives, by every load path."""
    torch.manual_seed(0)
    model224 = ViT(TINY_ARCH, img_size=224).eval()
    x = torch.randn(1, 3, 97, 131)
    odd = ViT(TINY_ARCH, img_size=(97, 131)).eval()
    assert odd.patch_embed.pos_embed.shape[1] == 1 + 7 * 9
    odd.load_state_dict(model224.state_dict(), strict=True)  # the pos_embed load pre-hook resizes
    with torch.no_grad():
        torch.testing.assert_close(odd(x)[0], model224(x)[0], rtol=0, atol=1e-6)
    # init_cfg Pretrained (Embedding resizes on load) from a classifier checkpoint with the 'backbone.' prefix
    path = str(tmp_path / 'cls.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in model224.state_dict().items()}}, path)
    loaded = build_backbone(dict(type='backbones.ViT', arch=TINY_ARCH, img_size=384,
                                 init_cfg=dict(type='Pretrained', checkpoint=path, prefix='backbone.'))).eval()
    loaded.init_weights()
    big = torch.randn(1, 3, 384, 384)
    with torch.no_grad():
        torch.testing.assert_close(loaded(big)[0], model224(big)[0], rtol=0, atol=1e-6)


# ----------------------------------------------------------------------------------- converter parity
def _write_npz(reference, path):
    np.savez(path, **npz_arrays(reference['manifest'], reference['seed']))
    return path


@pytest.mark.parametrize('name', ['tiny', 'tiny-hybrid', 'b16', 'r50-b16'])
def test_converter_parity_with_reference(name, tmp_path, capsys):
    reference = load_reference(f'vit_{name}_reference')
    src = _write_npz(reference, str(tmp_path / 'official.npz'))
    dst = str(tmp_path / 'converted.pth')
    if name == 'tiny':  # the real command line once; in-process for the rest (each start imports the stack)
        stdout = run_tool(CONVERTER, src, dst).stdout
    else:
        code, stdout, _ = run_converter(load_converter(), capsys, src, dst)
        assert code == 0
    assert 'vit_to_mm.py: wrote' in stdout if name == 'tiny' else 'converter: wrote' in stdout
    assert 'layout=google' in stdout
    checkpoint = torch.load(dst, weights_only=True)
    arch = checkpoint['meta']['arch']
    assert json.loads(json.dumps(arch)) == (name if name in ViT.arch_zoo else reference['arch'])
    for run in reference['runs']:
        # 384 runs load the 224 checkpoint strictly: the position embedding is resized while loading.
        model = vit_classifier(reference['arch'], reference['official_class_kwargs']['num_classes'],
                               run['img_size'], reference['head_hidden_dim']).eval()
        model.load_state_dict(checkpoint['state_dict'], strict=True)
        with torch.no_grad():
            logits = model(seeded_input(run['input_shape'], run['input_seed']), mode='tensor')
        expected = decode_floats(run['logits'], run['logits_shape'])
        err = (logits - expected).abs().max().item()
        assert err <= 1e-4 * max(expected.abs().max().item(), 1e-2), (name, run['img_size'], err)
        del model


def test_converter_refuses_pickled_npz(tmp_path):
    src = str(tmp_path / 'evil.npz')
    np.savez(src, cls=np.array([{'code': 1}], dtype=object))
    result = run_tool(CONVERTER, src, str(tmp_path / 'out.pth'), check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pickled' in lines[0] and 'Traceback' not in result.stderr
    assert not os.path.exists(tmp_path / 'out.pth')


def test_converter_names_unknown_keys_and_respects_force(tmp_path, capsys):
    converter = load_converter()
    reference = load_reference('vit_tiny_reference')
    arrays = npz_arrays(reference['manifest'], reference['seed'])
    arrays['Transformer/encoderblock_0/extra/kernel'] = np.zeros(3, np.float32)
    src = str(tmp_path / 'extra.npz')
    np.savez(src, **arrays)
    code, _, err = run_converter(converter, capsys, src, str(tmp_path / 'out.pth'))
    assert code == 2 and 'encoderblock_0/extra/kernel' in err

    src = _write_npz(reference, str(tmp_path / 'ok.npz'))
    dst = tmp_path / 'out.pth'
    dst.write_text('keep')
    code, _, err = run_converter(converter, capsys, src, str(dst))
    assert code == 2 and '--force' in err and dst.read_text() == 'keep'
    assert run_converter(converter, capsys, src, str(dst), '--force')[0] == 0
    assert 'state_dict' in torch.load(str(dst), weights_only=True)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] == []

    not_vit = str(tmp_path / 'other.npz')
    np.savez(not_vit, weight=np.zeros(3, np.float32))
    code, _, err = run_converter(converter, capsys, not_vit, str(tmp_path / 'x.pth'))
    assert code == 2 and 'google (embedding/kernel)' in err


# ------------------------------------------------------------------------------- attention and necks
def test_attention_maps_use_plain_path_only_when_asked():
    model = ViT(TINY_ARCH).eval()
    x = torch.randn(1, 3, 97, 131)
    with torch.no_grad():
        before = model(x)[0]
    maps = model.attention_maps(x)
    assert len(maps) == 3 and maps[0].shape == (1, 2, 1 + 7 * 9, 1 + 7 * 9)
    torch.testing.assert_close(maps[1].sum(-1), torch.ones(1, 2, 64))
    assert all(not layer.attn.keep_attention and layer.attn.attention_weights is None for layer in model.layers)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], before)


def test_vis_attention_writes_png(tmp_path, capsys):
    from PIL import Image
    config = tmp_path / 'tiny_vit.py'
    config.write_text(
        "model = dict(type='ImageClassifier', backbone=dict(type='backbones.ViT', arch=dict(embed_dims=64, depth=2, "
        "num_heads=2, mlp_dims=128, patch_size=16), img_size=224, out_type='cls_token'), neck=None, "
        "head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=64))\n"
        "data_preprocessor = dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5])\n")
    rng = np.random.default_rng(0)
    image = tmp_path / 'image.png'
    Image.fromarray(rng.integers(0, 255, (120, 90, 3), dtype=np.uint8)).save(image)
    out = tmp_path / 'out' / 'rollout.png'
    tool = load_tool(VIS_ATTENTION, 'vis_attention')
    assert tool.main([str(config), 'none', str(image), str(out), '--size', '97', '131']) == 0
    assert 'rollout of 2 layers' in capsys.readouterr().out
    with Image.open(out) as png:
        assert png.size == (131 * 2 + 8, 97)


def test_simple_fpn_pyramid_from_vit():
    from mmengine.registry import MODELS

    import mmdet_ext  # noqa: F401
    backbone = ViT(TINY_ARCH, out_indices=(2, )).eval()
    neck = MODELS.build(dict(type='mmdet_ext.SimpleFPN', in_channels=backbone.out_channels, out_channels=32,
                             num_outs=5))
    retina = MODELS.build(dict(type='mmdet_ext.SimpleFPN', in_channels=64, out_channels=32, scale_factors=(2, 1, 0.5),
                               num_outs=5, extra_levels='conv'))
    with torch.no_grad():
        feats = backbone(torch.randn(1, 3, 97, 131))  # 7x9 at stride 16
        sizes = [tuple(f.shape[-2:]) for f in neck(feats)]
        retina_sizes = [tuple(f.shape[-2:]) for f in retina(feats)]
    assert sizes == [(28, 36), (14, 18), (7, 9), (4, 5), (2, 3)]
    assert retina_sizes == [(14, 18), (7, 9), (4, 5), (2, 3), (1, 2)]
    assert all(f.shape[1] == 32 for f in neck(feats))
