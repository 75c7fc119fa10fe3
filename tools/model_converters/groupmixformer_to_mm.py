#!/usr/bin/env python
"""Convert an official GroupMixFormer ImageNet checkpoint (AILab-CVC/GroupMixFormer) to vitzoo's layout.

    python tools/model_converters/groupmixformer_to_mm.py groupmixformer_small.pth groupmixformer-s_in1k.pth

The official files are ``{'model': state_dict}`` (a bare state dict or a ``module.`` prefix from DDP
are accepted too). The result, ``{'state_dict': ..., 'meta': ...}``, loads with ``strict=True`` into
``configs/groupmixformer/groupmixformer-<v>_*_in1k.py`` (``backbones.GroupMixFormer`` with
``out_indices=(3,)``, ``GlobalAveragePooling``, ``LinearClsHead``) and reproduces the official logits:
the official final BatchNorm ``norm4`` runs before pooling, so it becomes the backbone's ``norm3``.
Detection and segmentation configs load the same file with
``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``. Nothing in the source is
unpickled as code.
"""
import os
import re
import sys
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from backbones.checkpoint import find_state_dict  # noqa: E402
from backbones.convert import (ConversionError, KeyTracker, converter_main, detect_layout,  # noqa: E402
                               match_zoo_arch, shorten, strip_module_prefix)
from backbones.groupmixformer import GroupMixFormer  # noqa: E402

# The arch zoo's shapes, name -> (dims, depths): converting needs no model build.
ZOO_SHAPES = {
    name: (tuple(arch['embed_dims']), tuple(arch['depths']))
    for name, arch in GroupMixFormer.arch_zoo.items()
}

# Names inside an official GMA block -> vitzoo's GroupMixBlock (first matching prefix wins).
BLOCK_RULES: List[Tuple[str, str]] = [
    ('cpe.proj.', 'cpe.'),
    ('att.aggregator.norm0.', 'attn.identity_norm.'),
    ('att.aggregator.agg0.conv.conv1.', 'attn.local_branch.conv.depthwise.'),
    ('att.aggregator.agg0.conv.pointwise_conv.', 'attn.local_branch.conv.pointwise.'),
    ('att.aggregator.agg0.norm.', 'attn.local_branch.norm.'),
] + [rule for i in (1, 2, 3) for rule in (
    (f'att.aggregator.agg{i}.conv1.', f'attn.aggregators.{i - 1}.conv.depthwise.'),
    (f'att.aggregator.agg{i}.pointwise_conv.', f'attn.aggregators.{i - 1}.conv.pointwise.'),
    (f'att.aggregator.norm{i}.', f'attn.aggregators.{i - 1}.norm.'),
)] + [
    ('att.crpe.conv_list.', 'attn.crpe.convs.'),
    ('att.qkv.', 'attn.qkv.'),
    ('att.proj.', 'attn.proj.'),
    ('norm1.', 'norm1.'),
    ('norm2.', 'norm2.'),
    ('mlp.fc1.', 'mlp.fc1.'),
    ('mlp.fc2.', 'mlp.fc2.'),
]


def _rename(rest: str, rules: List[Tuple[str, str]]) -> Optional[str]:
    for old, new in rules:
        if rest.startswith(old):
            return new + rest[len(old):]
    return None


def map_official(key: str) -> Optional[str]:
    """Official name -> vitzoo classifier name (None: not a GroupMixFormer classifier key)."""
    if m := re.match(r'^conv_stem\.(proj|norm)([12])\.(.+)$', key):
        return f'backbone.stem.{int(m[2]) - 1}.{"conv" if m[1] == "proj" else "norm"}.{m[3]}'
    if m := re.match(r'^patch_embed_layers\.(\d+)\.(.+)$', key):
        rest = _rename(m[2], [('proj.conv1.', 'conv.depthwise.'), ('proj.pointwise_conv.', 'conv.pointwise.'),
                              ('norm.', 'norm.')])
        return None if rest is None else f'backbone.stages.{m[1]}.patch_embed.{rest}'
    if m := re.match(r'^groupmixformer_backbone\.(\d+)\.gma_stage\.(\d+)\.(.+)$', key):
        rest = _rename(m[3], BLOCK_RULES)
        return None if rest is None else f'backbone.stages.{m[1]}.blocks.{m[2]}.{rest}'
    if m := re.match(r'^norm4\.(.+)$', key):
        return f'backbone.norm3.{m[1]}'
    if m := re.match(r'^head\.(weight|bias)$', key):
        return f'head.fc.{m[1]}'
    return None


def detect_shapes(converted: Dict[str, torch.Tensor]) -> Tuple[List[int], List[int], List[float]]:
    """Stage widths, depths and MLP ratios read from converted tensor shapes."""
    dims, depths, ratios = [], [], []
    for i in range(4):
        key = f'backbone.stages.{i}.patch_embed.conv.pointwise.weight'
        if key not in converted:
            raise ConversionError(f'no patch embedding for stage {i}; is this a complete GroupMixFormer checkpoint?')
        dims.append(int(converted[key].shape[0]))
        blocks = {int(m[1]) for k in converted for m in [re.match(rf'^backbone\.stages\.{i}\.blocks\.(\d+)\.', k)] if m}
        if not blocks or blocks != set(range(max(blocks) + 1)):
            raise ConversionError(f'stage {i} has blocks {sorted(blocks)}; expected 0..n-1')
        depths.append(max(blocks) + 1)
        hidden = int(converted[f'backbone.stages.{i}.blocks.0.mlp.fc1.weight'].shape[0])
        ratios.append(hidden / dims[-1])
    return dims, depths, ratios


def convert(source, args):
    state_dict = strip_module_prefix(find_state_dict(source))
    detect_layout(state_dict, {'official': 'conv_stem.proj1.weight'}, 'GroupMixFormer')
    tracker = KeyTracker(state_dict)
    converted = OrderedDict()
    unknown = []
    for key in state_dict:
        new_key = map_official(key)
        if new_key is None:
            unknown.append(key)
            continue
        value = tracker.take(key)
        if not isinstance(value, torch.Tensor):
            value = torch.as_tensor(value)
        # Floating tensors as float32 (fp16 releases); num_batches_tracked stays an integer.
        converted[new_key] = value.float() if value.is_floating_point() else value
    if unknown:
        raise ConversionError(f'{len(unknown)} keys are not part of a GroupMixFormer classifier: {shorten(unknown)}')
    tracker.check_all_used()
    dims, depths, ratios = detect_shapes(converted)
    name = match_zoo_arch(ZOO_SHAPES, dims, depths, args.arch)
    meta = dict(arch=name or 'custom', embed_dims=str(tuple(dims)), depths=str(tuple(depths)),
                mlp_ratios=str(tuple(ratios)),
                num_classes=int(converted['head.fc.weight'].shape[0]) if 'head.fc.weight' in converted else 0)
    return converted, meta


def add_arguments(parser):
    parser.add_argument('--arch', choices=sorted(ZOO_SHAPES), default=None,
                        help='check that the checkpoint has this variant\'s shapes (otherwise detected)')


if __name__ == '__main__':
    sys.exit(converter_main(convert, __doc__.strip().splitlines()[0], add_arguments))
