"""Converters for the files users hold: timm's and mmpretrain's layouts, and the official downstream releases.

* timm parity: a timm model (``timm.create_model(name, pretrained=False)``) gets deterministic random
  weights, its state dict is saved as a hub file would be (``model.safetensors`` / ``pytorch_model.bin``),
  converted, loaded strictly into the classifier our config builds, and both models' logits are compared.
  Every other timm variant of the family is checked for strict key/shape fit on the meta device.
* mmpretrain's ViT classifier: the same, against mmpretrain's own model.
* Downstream releases: ``tests/data/davit_det_reference.json`` and ``gcvit_det_reference.json`` hold the
  features that the official detection backbones (dingmyu/davit ``mmdet/mmdet/models/backbones/davit.py``,
  NVlabs/GCVit ``detection/models/gc_vit.py``) computed for seeded random weights (attention projections
  scaled by ``qkv_scale`` so that attention is not nearly uniform), and the official key
  names (a small arch, plus DaViT-T's names). A file in the mmdet 2.x / mmseg 0.x release layout is built
  from those names plus the neck and head names of the mmdet/mmseg model, converted, loaded strictly into
  our config's model, and must give the official features with neck and head tensors unchanged.
* A file of no known layout is refused with one line that names the layouts each converter knows.
"""
import os

import pytest
import torch
from contract import (ROOT, decode_floats, load_reference, load_tool, run_converter, run_tool, seeded_input,
                      seeded_state_dict)

CONVERTERS = {family: os.path.join('tools', 'model_converters', f'{family}_to_mm.py')
              for family in ('gcvit', 'vit', 'davit', 'groupmixformer')}


def converter(family):
    return load_tool(CONVERTERS[family], f'{family}_to_mm')


def build_from_config(config, backbone=None, model=None):
    """The model of ``configs/<config>`` (pretrained init dropped), with optional overrides."""
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', config))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.update(backbone or {})
    cfg.model.update(model or {})
    return MODELS.build(cfg.model).eval()


def seeded_like(module, seed=0, qkv_scale=1.):
    """Deterministic random weights for every entry of ``module``'s state dict (buffers included).

    ``qkv_scale`` enlarges the attention projections: with the default 0.02-std weights attention is
    nearly uniform, and a wrong query (e.g. GC ViT's global queries) would hardly change the logits."""
    state = module.state_dict()
    weights = seeded_state_dict([[k, list(v.shape)] for k, v in state.items()], seed)
    return {k: weights[k].to(v.dtype) * (qkv_scale if k.endswith('qkv.weight') else 1) for k, v in state.items()}


def reference_weights(manifest, reference):
    """The weights a committed reference was computed with (see :func:`seeded_like` for the scale)."""
    weights = seeded_state_dict(manifest, reference['seed'])
    scale = reference.get('qkv_scale', 1)
    return {k: v * scale if k.endswith('qkv.weight') else v for k, v in weights.items()}


def save_as(state_dict, path):
    """Write a state dict the way hub files come: ``.safetensors`` or a torch zip (``.bin``/``.pth``)."""
    if str(path).endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))
    else:
        torch.save(state_dict, str(path))
    return str(path)


def convert_file(family, capsys, src, dst, *extra):
    code, out, err = run_converter(converter(family), capsys, src, str(dst), *extra)
    assert code == 0, err
    return torch.load(str(dst), weights_only=True), out


def assert_same_logits(reference, ours, x, tolerance=2e-5):
    """Same logits up to ``tolerance`` times their scale (float32 round-off by default)."""
    with torch.no_grad():
        expected = reference(x)
        got = ours(x, mode='tensor')
    scale = expected.abs().max().item()
    err = (got - expected).abs().max().item()
    assert err <= tolerance * max(scale, 1.), (err, scale)
    return err


def _check_heads_and_features(checkpoint, heads, backbone, reference, atol):
    """Neck and head tensors arrive unchanged, and the backbone gives the official detection backbone's
    features (``atol`` relative to each map's scale)."""
    for key, value in heads.items():
        assert torch.equal(checkpoint['state_dict'][key], value), key
    with torch.no_grad():
        feats = backbone(seeded_input(reference['input_shape'], reference['input_seed']))
    for feat, text, shape in zip(feats, reference['features'], reference['feature_shapes']):
        expected = decode_floats(text, shape)
        torch.testing.assert_close(feat, expected, rtol=0, atol=atol * max(expected.abs().max().item(), 1.))


# ------------------------------------------------------------------------------------------- GC ViT
@pytest.mark.parametrize('name, arch, suffix', [('gcvit_xxtiny', 'xxt', '.safetensors'), ('gcvit_tiny', 't', '.bin')])
def test_gcvit_timm_weights_give_timm_logits(name, arch, suffix, tmp_path, capsys):
    import timm
    reference = timm.create_model(name, pretrained=False).eval()
    reference.load_state_dict(seeded_like(reference, qkv_scale=5.))
    src = save_as(reference.state_dict(), tmp_path / f'model{suffix}')
    checkpoint, out = convert_file('gcvit', capsys, src, tmp_path / 'converted.pth')
    assert 'layout=timm' in out and checkpoint['meta']['arch'] == arch
    ours = build_from_config(f'gcvit/gcvit-{arch}_8xb128_in1k.py')
    ours.load_state_dict(checkpoint['state_dict'], strict=True)
    assert_same_logits(reference, ours, seeded_input([1, 3, 224, 224], 1))


@pytest.mark.parametrize('name, arch', [('gcvit_xtiny', 'xt'), ('gcvit_small', 's'), ('gcvit_base', 'b')])
def test_every_timm_gcvit_variant_fits_its_zoo_arch(name, arch):
    import timm
    from backbones.gcvit import GCViT
    module = converter('gcvit')
    with torch.device('meta'):  # shapes only (the converter builds a real GCViT to check the fit)
        state_dict = timm.create_model(name, pretrained=False).state_dict()
    converted, meta = module.convert(state_dict, module_args(module))
    ours = GCViT(arch, out_indices=(3, ))
    assert meta['arch'] == arch and meta['layout'] == 'timm'
    own = {f'backbone.{k}': tuple(v.shape) for k, v in ours.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items() if k.startswith('backbone.')} == own
    assert tuple(converted['head.fc.weight'].shape) == (1000, ours.embed_dims[-1])


def module_args(module, *argv):
    """The converter's parsed arguments for ``argv`` (defaults), to call ``convert`` directly."""
    import argparse
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_gcvit_official_detection_file_gives_official_features(tmp_path, capsys):
    """A Cascade Mask R-CNN file from NVlabs/GCVit detection/ (mmdet 2.x): windows 24, norm0..3."""
    from backbones.layers import RelativePositionBias
    reference = load_reference('gcvit_det_reference')
    kwargs = reference['official_kwargs']
    arch = dict(embed_dims=kwargs['dim'], depths=kwargs['depths'], num_heads=kwargs['num_heads'],
                mlp_ratio=kwargs['mlp_ratio'])
    detector = build_from_config('gcvit/cascade-mask-rcnn_gcvit-t_fpn_3x_coco.py', backbone=dict(arch=arch),
                                 model=dict(neck=dict(type='FPN', in_channels=[16, 32, 64, 128], out_channels=256,
                                                      num_outs=5)))
    manifest = [m for m in reference['manifest'] if not m[0].endswith('relative_position_index')]
    backbone = reference_weights(manifest, reference)
    index = RelativePositionBias((reference['window_size'], ) * 2, 1).relative_position_index
    backbone.update({k: index for k, _ in reference['manifest'] if k.endswith('relative_position_index')})
    heads = {k: v for k, v in seeded_like(detector, 1).items() if not k.startswith('backbone.')}
    state_dict = dict({f'backbone.{k}': v for k, v in backbone.items()}, **heads)
    src = save_as({'meta': dict(CLASSES=[f'c{i}' for i in range(80)], mmdet_version='2.11.0', epoch=36),
                   'state_dict': state_dict, 'optimizer': dict(state={}, param_groups=[dict(lr=1e-4)])},
                  tmp_path / 'cascade_mask_rcnn_gcvit_tiny_3x.pth')
    checkpoint, out = convert_file('gcvit', capsys, src, tmp_path / 'converted.pth')
    assert 'layout=official-detection' in out and '80 class names' in out
    assert len(checkpoint['meta']['dataset_meta']['classes']) == 80
    detector.load_state_dict(checkpoint['state_dict'], strict=True)
    _check_heads_and_features(checkpoint, heads, detector.backbone, reference, atol=2e-5)


# ---------------------------------------------------------------------------------------------- ViT
@pytest.mark.parametrize('name, config, suffix', [
    ('vit_base_patch16_224', 'vit/vit-b16_64xb64_in1k.py', '.safetensors'),
    ('vit_base_r50_s16_384', 'vit/vit-r50-b16_64xb64_in1k.py', '.bin')])
def test_vit_timm_weights_give_timm_logits(name, config, suffix, tmp_path, capsys):
    import timm
    hybrid = 'r50' in name
    reference = timm.create_model(name, pretrained=False, **(dict(img_size=224) if hybrid else {})).eval()
    reference.load_state_dict(seeded_like(reference, qkv_scale=5.))
    src = save_as(reference.state_dict(), tmp_path / f'model{suffix}')
    checkpoint, out = convert_file('vit', capsys, src, tmp_path / 'converted.pth')
    meta = checkpoint['meta']
    assert meta['layout'] == 'timm' and meta['arch'] == ('r50-b16' if hybrid else 'b16') and meta['img_size'] == 224
    assert meta.get('hybrid_stem') == ('timm' if hybrid else None)
    x = seeded_input([1, 3, 224, 224], 1)
    ours = build_from_config(config, backbone=dict(hybrid_stem=meta['hybrid_stem']) if hybrid else None)
    ours.load_state_dict(checkpoint['state_dict'], strict=True)
    if hybrid:
        # 16 standardised-conv units accumulate float32 round-off (1e-4 of the logits here); in float64
        # the two models agree to 1e-12, so compare there.
        assert_same_logits(reference.double(), ours.double(), x.double(), tolerance=1e-9)
        reference, ours = reference.float(), ours.float()
    else:
        assert_same_logits(reference, ours, x)
    if hybrid:  # timm keeps TensorFlow's padding: the seed's stem computes other maps with these weights
        from backbones.vit import ResNetV2Stem
        timm_stem = ours.backbone.patch_embed.resnet
        seed_stem = ResNetV2Stem((3, 4, 9), 64, style='seed').eval()
        seed_stem.load_state_dict(timm_stem.state_dict(), strict=True)
        with torch.no_grad():
            assert (seed_stem.root(x)[..., :55, :55] - timm_stem.root(x)[..., :55, :55]).abs().max() > 1e-2


@pytest.mark.parametrize('name, arch', [('vit_base_patch32_224', 'b32'), ('vit_base_patch32_384', 'b32'),
                                        ('vit_large_patch16_224', 'l16'), ('vit_large_patch16_384', 'l16'),
                                        ('vit_large_patch32_384', 'l32'), ('vit_huge_patch14_224', 'h14'),
                                        ('vit_base_r50_s16_384', 'r50-b16')])
def test_every_timm_vit_variant_fits_its_zoo_arch(name, arch):
    import timm
    from backbones.vit import ViT
    module = converter('vit')
    with torch.device('meta'):
        model = timm.create_model(name, pretrained=False)
        converted, meta = module.convert(model.state_dict(), module_args(module))
        ours = ViT(arch, img_size=meta['img_size'], out_type='cls_token', hybrid_stem=meta.get('hybrid_stem', 'seed'))
    assert meta['arch'] == arch and meta['img_size'] == model.patch_embed.img_size[0]
    own = {f'backbone.{k}': tuple(v.shape) for k, v in ours.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items() if k.startswith('backbone.')} == own
    # timm's in21k 'orig' H/14 has no head (num_classes=0)
    assert set(converted) - set(own) <= {'head.layers.head.weight', 'head.layers.head.bias'}


def test_vit_mmpretrain_weights_give_mmpretrain_logits(tmp_path, capsys):
    from mmpretrain.registry import MODELS
    from backbones.vit import ViT
    reference = MODELS.build(
        dict(type='ImageClassifier', backbone=dict(type='VisionTransformer', arch='deit-tiny', img_size=224,
                                                   patch_size=16, out_type='cls_token'),
             neck=None, head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=192,
                                  hidden_dim=96))).eval()
    reference.load_state_dict(seeded_like(reference, qkv_scale=5.))
    src = save_as({'meta': dict(mmpretrain_version='1.2.0'), 'state_dict': reference.state_dict()},
                  tmp_path / 'vit_mmpretrain.pth')
    checkpoint, out = convert_file('vit', capsys, src, tmp_path / 'converted.pth')
    meta = checkpoint['meta']
    assert meta['layout'] == 'mmpretrain' and meta['head_hidden_dim'] == 96 and meta['num_classes'] == 10
    assert meta['arch'] == dict(embed_dims=192, depth=12, num_heads=3, mlp_dims=768, patch_size=16)
    ours = MODELS.build(
        dict(type='ImageClassifier', backbone=dict(type='backbones.ViT', arch=meta['arch'], img_size=224,
                                                   out_type='cls_token'),
             neck=None, head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=192,
                                  hidden_dim=96))).eval()
    ours.load_state_dict(checkpoint['state_dict'], strict=True)
    x = seeded_input([1, 3, 224, 224], 1)
    assert_same_logits(lambda t: reference(t, mode='tensor'), ours, x)
    assert isinstance(ours.backbone, ViT)


# -------------------------------------------------------------------------------------------- DaViT
def _davit_release(entry, model, tmp_path, name, **meta):
    """An official downstream release: ``meta``, ``state_dict`` (official backbone names under
    ``backbone.`` + the neck and heads of ``model``), ``optimizer``."""
    backbone = reference_weights(entry['manifest'], entry)
    heads = {k: v for k, v in seeded_like(model, 1).items() if not k.startswith('backbone.')}
    state_dict = dict({f'backbone.{k}': v for k, v in backbone.items()}, **heads)
    optimizer = dict(state={0: dict(step=torch.tensor(10.), exp_avg=torch.zeros(3))},
                     param_groups=[dict(lr=1e-4, weight_decay=0.05, params=[0])])
    path = save_as(dict(meta=dict(meta, epoch=12, iter=1000, config='model = dict(...)'), state_dict=state_dict,
                        optimizer=optimizer), tmp_path / name)
    return path, heads


COCO_META = dict(mmdet_version='2.11.0', CLASSES=[f'class{i}' for i in range(80)])


def test_davit_mask_rcnn_release_converts_loads_strictly_and_gives_official_features(tmp_path):
    reference = load_reference('davit_det_reference')
    tiny = reference['tiny']
    kwargs = tiny['official_kwargs']
    arch = dict(embed_dims=kwargs['embed_dims'], depths=kwargs['depths'], num_heads=kwargs['num_heads'],
                window_size=kwargs['window_size'])
    overrides = dict(backbone=dict(arch=arch), model=dict(neck=dict(type='FPN', in_channels=kwargs['embed_dims'],
                                                                    out_channels=256, num_outs=5)))
    detector = build_from_config('davit/mask-rcnn_davit-t_fpn_1x_coco.py', **overrides)
    src, heads = _davit_release(tiny, detector, tmp_path, 'mask_rcnn_davit_tiny_1x.pth', **COCO_META)
    dst = str(tmp_path / 'converted.pth')
    result = run_tool(CONVERTERS['davit'], src, dst)  # the real command line
    assert 'layout=official-downstream' in result.stdout and 'heads=neck,roi_head,rpn_head' in result.stdout
    checkpoint = torch.load(dst, weights_only=True)
    assert 'optimizer' not in checkpoint and len(checkpoint['meta']['dataset_meta']['classes']) == 80
    fresh = build_from_config('davit/mask-rcnn_davit-t_fpn_1x_coco.py', **overrides)
    from mmengine.runner import load_checkpoint  # what load_from / tools/test.py go through
    load_checkpoint(fresh, dst, map_location='cpu', strict=True)
    _check_heads_and_features(checkpoint, heads, fresh.backbone, tiny, atol=1e-5)


@pytest.mark.parametrize('config, name, meta', [
    ('mask-rcnn_davit-t_fpn_3x_coco.py', 'mask_rcnn_davit_tiny_3x.pth', COCO_META),
    ('retinanet_davit-t_fpn_1x_coco.py', 'retinanet_davit_tiny_1x.pth', COCO_META),
    ('upernet_davit-t_8xb2-160k_ade20k-512x512.py', 'upernet_davit_tiny_160k.pth',
     dict(mmseg_version='0.11.0', CLASSES=[f'c{i}' for i in range(150)], PALETTE=[[i, i, i] for i in range(150)])),
])
def test_davit_t_releases_load_strictly_into_the_configs(config, name, meta, tmp_path, capsys):
    """DaViT-T files with the official names load into the unchanged configs (RetinaNet: the official model's
    norm0, which its FPN never reads, is dropped)."""
    model = build_from_config(f'davit/{config}')
    entry = load_reference('davit_det_reference')['t']
    src, heads = _davit_release(entry, model, tmp_path, name, **meta)
    checkpoint, out = convert_file('davit', capsys, src, tmp_path / 'converted.pth')
    assert 'arch=t' in out and 'layout=official-downstream' in out
    assert ('unused_norms_dropped=norm0' in out) == ('retinanet' in config)
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    for key, value in heads.items():
        assert torch.equal(checkpoint['state_dict'][key], value), key
    if 'upernet' in config:
        assert checkpoint['meta']['dataset_meta']['palette'][3] == (3, 3, 3)


# ------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize('family, layouts', [
    ('gcvit', ('official', 'timm', 'official-detection')),
    ('vit', ('google', 'timm', 'mmpretrain')),
    ('davit', ('official', 'timm', 'mmpretrain', 'official-downstream')),
])
def test_unknown_layout_is_refused_with_one_line_naming_the_known_ones(family, layouts, tmp_path, capsys):
    resnet = {'conv1.weight': torch.zeros(64, 3, 7, 7), 'bn1.weight': torch.ones(64), 'fc.weight': torch.zeros(10, 64)}
    src = save_as(resnet, tmp_path / 'resnet50.safetensors')
    dst = tmp_path / 'out.pth'
    if family == 'gcvit':  # once through the real command line
        result = run_tool(CONVERTERS[family], src, str(dst), check=False)
        code, err = result.returncode, result.stderr
    else:
        code, _, err = run_converter(converter(family), capsys, src, str(dst))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and 'Traceback' not in err, err
    assert 'checkpoint in a layout this converter knows' in lines[0]
    for layout in layouts:
        assert f'{layout} (' in lines[0], (layout, lines[0])
    assert not dst.exists()


def test_every_converter_shares_the_cli_error_and_exit_code(tmp_path, capsys):
    """One command line for every family: an existing DST needs --force (exit 2), a missing SRC is one line."""
    dst = tmp_path / 'exists.pth'
    dst.write_text('keep')
    for family in CONVERTERS:
        module = converter(family)
        assert module.converter_main.__module__ == 'backbones.convert', family
        code, _, err = run_converter(module, capsys, str(tmp_path / 'missing.pth'), str(dst))
        assert code == 2 and '--force' in err and dst.read_text() == 'keep', family
        code, _, err = run_converter(module, capsys, str(tmp_path / 'missing.pth'), str(tmp_path / 'new.pth'))
        assert code == 2 and len(err.strip().splitlines()) == 1 and 'not found' in err, family


# ------------------------------------------------------------------------------------ cascade configs
@pytest.mark.parametrize('variant, dims', [('t', 64), ('s', 96), ('b', 128)])
def test_gcvit_cascade_configs_follow_the_official_recipe(variant, dims):
    from mmengine.config import Config
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'gcvit', f'cascade-mask-rcnn_gcvit-{variant}_fpn_3x_coco.py'))
    model = cfg.model
    assert model.type == 'CascadeRCNN' and model.roi_head.type == 'CascadeRoIHead'
    assert model.backbone.type == 'backbones.GCViT' and model.backbone.arch == variant
    assert model.backbone.window_size == 24 and model.backbone.query_downsample == (True, True, True, False)
    assert model.backbone.drop_path_rate == (0.2 if variant == 't' else 0.3)
    assert list(model.neck.in_channels) == [dims * 2**i for i in range(4)]
    assert [h.type for h in model.roi_head.bbox_head] == ['ConvFCBBoxHead'] * 3
    assert all(h.loss_bbox.type == 'GIoULoss' and h.num_shared_convs == 4 for h in model.roi_head.bbox_head)
    optim = cfg.optim_wrapper
    assert optim.type == 'OptimWrapper' and 'constructor' not in optim  # no layer decay, no AMP
    assert optim.optimizer.type == 'AdamW' and optim.optimizer.lr == 1e-4 and optim.optimizer.weight_decay == 0.05
    custom = optim.paramwise_cfg.custom_keys
    assert custom['relative_position_bias_table'].decay_mult == 0 and custom['norm'].decay_mult == 0
    assert cfg.train_cfg.max_epochs == 36
    assert cfg.param_scheduler[0].end == 2500 and cfg.param_scheduler[1].milestones == [27, 33]
    resize = cfg.train_dataloader.dataset.pipeline[3]
    assert resize.type == 'RandomChoice' and resize.transforms[0][0].scales[0] == (480, 1333)
