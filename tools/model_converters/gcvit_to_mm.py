#!/usr/bin/env python
"""Convert an official GC ViT checkpoint (NVlabs/GCVit, timm saver format) to vitzoo's layout.

    python tools/model_converters/gcvit_to_mm.py gcvit_1k_tiny.pth.tar gcvit-t_in1k.pth [--ema]

The result loads with ``strict=True`` into ``configs/gcvit/gcvit-<v>_*_in1k.py`` and, through
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``, into the detection and
segmentation configs. Nothing in the source is unpickled as code.
"""
import os
import re
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from backbones.checkpoint import find_state_dict  # noqa: E402
from backbones.convert import (ConversionError, KeyTracker, check_against_model, converter_main,  # noqa: E402
                               rename_prefixes)
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


def detect_arch(state_dict) -> tuple:
    """Read the variant's hyper-parameters from tensor shapes; return (zoo name or None, arch dict)."""
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
                zoo_windows, zoo.get('layer_scale') is not None) == (dim, tuple(depths), tuple(heads), mlp_ratio,
                                                                    tuple(windows), layer_scale):
            return name, arch
    return None, arch


def convert(source, args):
    if args.ema:
        if 'state_dict_ema' not in source:
            raise ConversionError('--ema given but the checkpoint has no state_dict_ema')
        source = source['state_dict_ema']
    state_dict = find_state_dict(source)
    state_dict = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items())
    if 'patch_embed.proj.weight' not in state_dict:
        raise ConversionError('no patch_embed.proj.weight: this is not an official GC ViT classifier checkpoint')
    name, arch = detect_arch(state_dict)
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
        converted[map_key(key)] = tracker.take(key).float()
    tracker.check_all_used()
    check_against_model(converted, GCViT(arch, out_indices=(3, )))
    meta = dict(arch=name or 'custom', arch_settings=str(arch), ema=bool(args.ema))
    return converted, meta


def add_arguments(parser):
    parser.add_argument('--ema', action='store_true', help='convert state_dict_ema instead of state_dict')


if __name__ == '__main__':
    sys.exit(converter_main(convert, __doc__.strip().splitlines()[0], add_arguments))
