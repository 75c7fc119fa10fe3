#!/usr/bin/env python
"""Convert a GC ViT checkpoint (official, timm or official-detection layout) to vitzoo's layout.

    python tools/model_converters/gcvit_to_mm.py gcvit_1k_tiny.pth.tar gcvit-t_in1k.pth [--ema]
    python tools/model_converters/gcvit_to_mm.py model.safetensors gcvit-t_timm.pth    # timm/gcvit_tiny.in1k

Accepted layouts, detected from the keys (``.pth``/``.pth.tar``/``.bin`` read weights-only, ``.safetensors``):

* ``official``: NVlabs/GCVit ImageNet releases (timm saver files, ``levels.*``, ``patch_embed.*``, ``head``);
* ``timm``: timm's ``gcvit_xxtiny/xtiny/tiny/small/base`` (hub ``model.safetensors``/``pytorch_model.bin``:
  ``stem.*``, ``stages.*``, ``head.fc``), the same weights renamed;
* ``official-detection``: detectors trained with NVlabs/GCVit ``detection/`` (mmdet 2.x: ``state_dict`` with
  ``backbone.levels.*`` and ``backbone.norm0..3``, windows 24, plus neck and heads, which are kept as they
  are; ``optimizer`` is dropped, the class names kept as ``dataset_meta``).

Classifier layouts load with ``strict=True`` into ``configs/gcvit/gcvit-<v>_*_in1k.py`` and, through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``, into the detection and
segmentation configs; a converted detector loads strictly into the matching ``configs/gcvit`` detector
(``load_from`` or ``tools/dist_test.sh CONFIG DST N``). Nothing in the source is unpickled as code.
"""
import os
import re
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from backbones.checkpoint import find_state_dict  # noqa: E402
from backbones.convert import (ConversionError, KeyTracker, check_against_model, converter_main,  # noqa: E402
                               detect_layout, downstream_meta, rename_prefixes, select_ema, split_downstream,
                               strip_module_prefix)
from backbones.gcvit import GCViT  # noqa: E402
from backbones.layers import RelativePositionBias  # noqa: E402

# Official sub-module names of the fused MBConv (an nn.Sequential) and its squeeze-excite.
MBCONV_RULES = [('conv.0.', 'conv.dw_conv.'), ('conv.2.fc.0.', 'conv.se.reduce.'),
                ('conv.2.fc.2.', 'conv.se.expand.'), ('conv.3.', 'conv.pw_conv.')]


def map_key(key: str) -> str:
    """Official parameter name -> name in the mmpretrain classifier."""
    if key.startswith('head.'):
        return 'head.fc.' + key[len('head.'):]
    if key.startswith('norm.'):
        return 'backbone.norm3.' + key[len('norm.'):]
    key = rename_prefixes(key, [('patch_embed.conv_down.', 'patch_embed.down.'), ('levels.', 'stages.')])
    key = re.sub(r'^(stages\.\d+)\.q_global_gen\.to_q_global\.(\d+)\.', r'\1.global_query.blocks.\2.', key)
    key = key.replace('.attn.relative_position_bias_table', '.attn.rel_pos.relative_position_bias_table')
    for old, new in MBCONV_RULES:
        key = re.sub(r'(patch_embed\.down|downsample|global_query\.blocks\.\d+)\.' + re.escape(old),
                     r'\1.' + new, key)
    return 'backbone.' + key


def map_timm(key: str) -> str:
    """timm ``GlobalContextVit`` name -> official name. timm downsamples at the start of a stage (the
    official code at the end of the previous one) and builds its squeeze-excite from 1x1 convs."""
    key = rename_prefixes(key, [('stem.conv1.', 'patch_embed.proj.'), ('stem.down.', 'patch_embed.conv_down.'),
                                ('head.fc.', 'head.'), ('stages.3.norm.', 'norm.')])
    key = re.sub(r'^stages\.(\d+)\.downsample\.', lambda m: f'levels.{int(m[1]) - 1}.downsample.', key)
    key = re.sub(r'^stages\.(\d+)\.global_block\.blocks\.conv(\d+)\.',
                 lambda m: f'levels.{m[1]}.q_global_gen.to_q_global.{int(m[2]) - 1}.conv_block.', key)
    key = re.sub(r'^stages\.', 'levels.', key)
    key = key.replace('.attn.rel_pos.relative_position', '.attn.relative_position')
    key = key.replace('.ls1.gamma', '.gamma1').replace('.ls2.gamma', '.gamma2')
    for old, new in TIMM_MBCONV_RULES:
        key = key.replace('.conv_block.' + old, '.conv.' + new)
    return key


# timm's MbConvBlock names -> the official nn.Sequential indices.
TIMM_MBCONV_RULES = [('conv_dw.', '0.'), ('se.fc1.', '2.fc.0.'), ('se.fc2.', '2.fc.2.'), ('conv_pw.', '3.')]


def from_timm(state_dict):
    """A timm state dict under the official names (squeeze-excite 1x1 conv kernels as linear weights)."""
    out = OrderedDict()
    for key, value in state_dict.items():
        new_key = map_timm(key)
        if re.search(r'\.conv\.2\.fc\.[02]\.weight$', new_key) and value.dim() == 4:
            value = value.flatten(1)
        out[new_key] = value
    return out


def detect_arch(state_dict, match_windows: bool = True) -> tuple:
    """Read the variant's hyper-parameters from tensor shapes; return (zoo name or None, arch dict).
    ``match_windows=False`` names the zoo variant of a detection backbone, whose windows differ."""
    dim = state_dict['patch_embed.proj.weight'].shape[0]
    depths, windows = [], []
    for i in range(4):
        blocks = {int(m.group(1)) for k in state_dict for m in [re.match(rf'levels\.{i}\.blocks\.(\d+)\.', k)] if m}
        if not blocks:
            raise ConversionError(f'no blocks found for level {i}; is this a GC ViT checkpoint?')
        depths.append(max(blocks) + 1)
        rows = state_dict[f'levels.{i}.blocks.0.attn.relative_position_bias_table'].shape[0]
        windows.append((int(round(rows**0.5)) + 1) // 2)
    heads = [state_dict[f'levels.{i}.blocks.0.attn.relative_position_bias_table'].shape[1] for i in range(4)]
    mlp_ratio = state_dict['levels.0.blocks.0.mlp.fc1.weight'].shape[0] / dim
    layer_scale = 'levels.0.blocks.0.gamma1' in state_dict
    arch = dict(embed_dims=dim, depths=tuple(depths), num_heads=tuple(heads), mlp_ratio=mlp_ratio,
                window_size=tuple(windows), layer_scale=1e-5 if layer_scale else None)
    for name, zoo in GCViT.arch_zoo.items():
        zoo_windows = tuple(zoo.get('window_size', GCViT.arch_defaults['window_size']))
        if (zoo['embed_dims'], tuple(zoo['depths']), tuple(zoo['num_heads']), float(zoo['mlp_ratio']),
                zoo.get('layer_scale') is not None) == (dim, tuple(depths), tuple(heads), mlp_ratio, layer_scale) \
                and (zoo_windows == tuple(windows) or not match_windows):
            return name, arch
    return None, arch


# Layout name -> a key only that layout has.
LAYOUTS = {
    'official': 'levels.0.blocks.0.attn.qkv.weight',
    'timm': 'stem.conv1.weight',
    'official-detection': 'backbone.levels.0.blocks.0.attn.qkv.weight',
}


def convert(source, args):
    source = select_ema(source, args.ema)
    state_dict = strip_module_prefix(find_state_dict(source))
    layout = detect_layout(state_dict, LAYOUTS, 'GC ViT')
    downstream = OrderedDict()
    if layout == 'timm':
        state_dict = from_timm(state_dict)
    elif layout == 'official-detection':
        # NVlabs/GCVit detection/ (mmdet 2.x): the backbone under backbone.*, one norm per output.
        state_dict, downstream = split_downstream(state_dict)
    detection = layout == 'official-detection'
    name, arch = detect_arch(state_dict, match_windows=not detection)
    tracker = KeyTracker(state_dict)
    converted = OrderedDict()
    for key in list(state_dict):
        if key.endswith('relative_position_index'):
            # A derived buffer: check it is the standard Swin index, then drop it.
            window = (int(round(state_dict[key].shape[0]**0.5)), ) * 2
            expected = RelativePositionBias(window, 1).relative_position_index
            if not torch.equal(state_dict[key].long(), expected):
                raise ConversionError(f'{key} differs from the standard relative position index')
            tracker.skip(key)
            continue
        converted[map_key(key)] = torch.as_tensor(tracker.take(key)).float()
    tracker.check_all_used()
    model_arch = {k: v for k, v in arch.items() if k != 'window_size'}
    check_against_model(converted, GCViT(model_arch, window_size=arch['window_size'],
                                         out_indices=(0, 1, 2, 3) if detection else (3, )))
    meta = dict(arch=name or 'custom', layout=layout, arch_settings=str(arch), ema=bool(args.ema))
    if detection:
        converted.update(downstream)
        meta.update(downstream_meta(source))
    return converted, meta


def add_arguments(parser):
    parser.add_argument('--ema', action='store_true', help='convert state_dict_ema instead of state_dict')


if __name__ == '__main__':
    sys.exit(converter_main(convert, __doc__.strip().splitlines()[0], add_arguments))
