#!/usr/bin/env python
"""Convert a DaViT checkpoint (official, timm, mmpretrain or official-downstream layout) to vitzoo's.

    python tools/model_converters/davit_to_mm.py DaViT_tiny.pth.tar davit-t_in1k.pth [--ema] [--arch t]
    python tools/model_converters/davit_to_mm.py mask_rcnn_davit_tiny_1x.pth mask-rcnn_davit-t_1x.pth

Accepted layouts, detected from the keys (``.pth``/``.bin`` read weights-only, ``.safetensors``): ``official``,
the ImageNet release (``patch_embeds.*``, ``main_blocks.*``, ``norms``, ``head``); ``timm``, its
``davit_*.msft_in1k`` files (``stem.*``, ``stages.*``, ``head.norm``, ``head.fc``); ``mmpretrain``, its
``davit-*_3rdparty_in1k`` files (same weights, renamed); ``official-downstream``, the seed's Mask R-CNN and
RetinaNet (mmdet 2.x) and UPerNet (mmseg 0.x) releases (``meta``, ``state_dict`` with ``backbone.patch_embeds.*``,
``backbone.main_blocks.*``, ``backbone.norm0..3``, neck and heads, ``optimizer``). A downstream file becomes a
checkpoint that loads strictly into ``configs/davit/{mask-rcnn,retinanet,upernet}_davit-<v>_*.py``
(``load_from``, or ``tools/dist_test.sh CONFIG DST N``): backbone renamed, neck and head tensors unchanged
(their names are the same in mmdet 3.x / mmseg 1.x), class names kept as ``dataset_meta``, optimizer state
dropped. A classifier file loads with ``strict=True`` into
``configs/davit/davit-<v>_*_in1k.py`` (whose backbone sets ``out_norm_after_pool=True``: the official
final LayerNorm runs after pooling) and reproduces the official logits; detection and segmentation
configs load it with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``.
Nothing in the source is unpickled as code.
"""
import os
import re
import sys
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from backbones.checkpoint import find_state_dict  # noqa: E402
from backbones.convert import (ConversionError, KeyTracker, converter_main, detect_layout,  # noqa: E402
                               downstream_meta, match_zoo_arch, select_ema, shorten, split_downstream,
                               strip_module_prefix)
from backbones.davit import DaViT  # noqa: E402

# The arch zoo's shapes, name -> (dims, depths): converting needs no model build.
ZOO_SHAPES = {name: (tuple(arch['embed_dims']), tuple(arch['depths'])) for name, arch in DaViT.arch_zoo.items()}
BLOCK_KINDS = ('spatial', 'channel')  # official attention_types order inside a depth unit

# Every name a vitzoo DaViT classifier has; a mapped key outside this set is reported, not written.
BLOCK_PARAMS = r'(cpe_attn\.proj|cpe_mlp\.proj|norm1|norm2|attn\.qkv|attn\.proj|mlp\.fc1|mlp\.fc2)'
VITZOO_KEY = re.compile(r'^(backbone\.patch_embed\.(proj|norm)'
                        r'|backbone\.stages\.[1-3]\.downsample\.(proj|norm)'
                        r'|backbone\.stages\.\d+\.blocks\.\d+\.(spatial|channel)\.' + BLOCK_PARAMS +
                        r'|backbone\.norm[0-3]|head\.fc)\.(weight|bias)$')


def _official_block_rest(rest: str) -> str:
    """Official names inside a spatial/channel block -> vitzoo's."""
    rest = re.sub(r'^cpe\.0\.', 'cpe_attn.', rest)
    return re.sub(r'^cpe\.1\.', 'cpe_mlp.', rest)


def map_official(key: str) -> Optional[str]:
    """dingmyu/davit name -> vitzoo classifier name (None: not a DaViT key)."""
    if m := re.match(r'^patch_embeds\.0\.(proj|norm)\.(.+)$', key):
        return f'backbone.patch_embed.{m[1]}.{m[2]}'
    if m := re.match(r'^patch_embeds\.([1-3])\.(proj|norm)\.(.+)$', key):
        return f'backbone.stages.{m[1]}.downsample.{m[2]}.{m[3]}'
    if m := re.match(r'^main_blocks\.(\d+)\.(\d+)\.([01])\.(.+)$', key):
        return f'backbone.stages.{m[1]}.blocks.{m[2]}.{BLOCK_KINDS[int(m[3])]}.{_official_block_rest(m[4])}'
    if m := re.match(r'^norms\.(weight|bias)$', key):
        return f'backbone.norm3.{m[1]}'
    if m := re.match(r'^norm([0-3])\.(weight|bias)$', key):  # the detection/segmentation backbone's
        return f'backbone.norm{m[1]}.{m[2]}'
    if m := re.match(r'^head\.(weight|bias)$', key):
        return f'head.fc.{m[1]}'
    return None


def map_timm(key: str) -> Optional[str]:
    """timm ``DaVit`` name -> vitzoo classifier name."""
    if m := re.match(r'^stem\.(conv|norm)\.(.+)$', key):
        return f'backbone.patch_embed.{"proj" if m[1] == "conv" else "norm"}.{m[2]}'
    if m := re.match(r'^stages\.([1-3])\.downsample\.(conv|norm)\.(.+)$', key):
        return f'backbone.stages.{m[1]}.downsample.{"proj" if m[2] == "conv" else "norm"}.{m[3]}'
    if m := re.match(r'^stages\.(\d+)\.blocks\.(\d+)\.([01])\.(.+)$', key):
        rest = re.sub(r'^cpe1\.', 'cpe_attn.', re.sub(r'^cpe2\.', 'cpe_mlp.', m[4]))
        return f'backbone.stages.{m[1]}.blocks.{m[2]}.{BLOCK_KINDS[int(m[3])]}.{rest}'
    if m := re.match(r'^head\.norm\.(weight|bias)$', key):
        return f'backbone.norm3.{m[1]}'
    if m := re.match(r'^head\.fc\.(weight|bias)$', key):
        return f'head.fc.{m[1]}'
    return None


MMPRETRAIN_BLOCK_RULES = [('cpe1.', 'cpe_attn.'), ('cpe2.', 'cpe_mlp.'), ('attn.w_msa.', 'attn.'),
                          ('ffn.layers.0.0.', 'mlp.fc1.'), ('ffn.layers.1.', 'mlp.fc2.')]


def map_mmpretrain(key: str) -> Optional[str]:
    """mmpretrain ``DaViT`` classifier name -> vitzoo classifier name (its downsampling sits at the end
    of the previous stage)."""
    if m := re.match(r'^backbone\.patch_embed\.(projection|norm)\.(.+)$', key):
        return f'backbone.patch_embed.{"proj" if m[1] == "projection" else "norm"}.{m[2]}'
    if m := re.match(r'^backbone\.stages\.([0-2])\.downsample\.(projection|norm)\.(.+)$', key):
        return f'backbone.stages.{int(m[1]) + 1}.downsample.{"proj" if m[2] == "projection" else "norm"}.{m[3]}'
    if m := re.match(r'^backbone\.stages\.(\d+)\.blocks\.(\d+)\.(spatial|channel)_block\.(.+)$', key):
        rest = m[4]
        for old, new in MMPRETRAIN_BLOCK_RULES:
            if rest.startswith(old):
                rest = new + rest[len(old):]
                break
        return f'backbone.stages.{m[1]}.blocks.{m[2]}.{m[3]}.{rest}'
    if m := re.match(r'^backbone\.norm3\.(weight|bias)$', key):
        return key
    if m := re.match(r'^head\.fc\.(weight|bias)$', key):
        return key
    return None


LAYOUTS: Dict[str, Tuple[str, Callable[[str], Optional[str]]]] = {
    'official': ('patch_embeds.0.proj.weight', map_official),
    'timm': ('stem.conv.weight', map_timm),
    'mmpretrain': ('backbone.patch_embed.projection.weight', map_mmpretrain),
    # dingmyu/davit mmdet/ and mmseg/ releases (Mask R-CNN, RetinaNet, UPerNet): the official backbone
    # under backbone.* with one norm per output (norm0..norm3), and mmdet 2.x / mmseg 0.x necks and heads.
    'official-downstream': ('backbone.patch_embeds.0.proj.weight', map_official),
}


def detect_shapes(converted: Dict[str, torch.Tensor]) -> Tuple[List[int], List[int]]:
    """Stage widths and depths (DaViT blocks per stage) read from converted tensor shapes."""
    dims = [int(converted['backbone.patch_embed.proj.weight'].shape[0])]
    for i in range(1, 4):
        key = f'backbone.stages.{i}.downsample.proj.weight'
        if key not in converted:
            raise ConversionError(f'no downsampling conv for stage {i}; is this a complete DaViT checkpoint?')
        dims.append(int(converted[key].shape[0]))
    depths = []
    for i in range(4):
        blocks = {int(m[1]) for k in converted for m in [re.match(rf'^backbone\.stages\.{i}\.blocks\.(\d+)\.', k)] if m}
        if not blocks or blocks != set(range(max(blocks) + 1)):
            raise ConversionError(f'stage {i} has blocks {sorted(blocks)}; expected 0..n-1')
        depths.append(max(blocks) + 1)
    return dims, depths


def unused_norms(dims: List[int], downstream: Dict[str, torch.Tensor]) -> List[int]:
    """Output norms nothing reads: the official RetinaNet computes all four stages' norms, but its FPN
    (``start_level=1``) takes stages 1-3 only, and vitzoo's RetinaNet backbone has no ``norm0``."""
    lateral = downstream.get('neck.lateral_convs.0.conv.weight')
    if lateral is None or 'bbox_head.retina_cls.weight' not in downstream:
        return []
    first = dims.index(int(lateral.shape[1])) if int(lateral.shape[1]) in dims else 0
    return list(range(first))


def convert(source, args):
    source = select_ema(source, args.ema)
    state_dict = strip_module_prefix(find_state_dict(source))
    layout = detect_layout(state_dict, {name: probe for name, (probe, _) in LAYOUTS.items()}, 'DaViT')
    downstream = OrderedDict()
    if layout == 'official-downstream':
        state_dict, downstream = split_downstream(state_dict)
    mapper = LAYOUTS[layout][1]
    tracker = KeyTracker(state_dict)
    converted = OrderedDict()
    unknown = []
    for key in state_dict:
        new_key = mapper(key)
        if new_key is None or not VITZOO_KEY.match(new_key):
            unknown.append(key)
            continue
        converted[new_key] = torch.as_tensor(tracker.take(key)).float()
    if unknown:
        what = 'a DaViT detector/segmentor backbone' if downstream else 'a DaViT classifier'
        raise ConversionError(f'{len(unknown)} keys are not part of {what} ({layout} layout): {shorten(unknown)}')
    tracker.check_all_used()
    dims, depths = detect_shapes(converted)
    name = match_zoo_arch(ZOO_SHAPES, dims, depths, args.arch)
    meta = dict(arch=name or 'custom', layout=layout, embed_dims=str(tuple(dims)), depths=str(tuple(depths)))
    if downstream:
        dropped = unused_norms(dims, downstream)
        converted = OrderedDict((k, v) for k, v in converted.items()
                                if not any(k.startswith(f'backbone.norm{i}.') for i in dropped))
        converted.update(downstream)
        meta.update(heads=','.join(sorted({k.split('.')[0] for k in downstream})),
                    unused_norms_dropped=','.join(f'norm{i}' for i in dropped) or 'none', **downstream_meta(source))
    else:
        meta.update(num_classes=int(converted['head.fc.weight'].shape[0]) if 'head.fc.weight' in converted else 0,
                    ema=bool(args.ema))
    return converted, meta


def add_arguments(parser):
    parser.add_argument('--ema', action='store_true', help='convert state_dict_ema instead of state_dict')
    parser.add_argument('--arch',
                        choices=sorted(ZOO_SHAPES),
                        default=None,
                        help='check that the checkpoint has this variant\'s shapes (otherwise detected)')


if __name__ == '__main__':
    sys.exit(converter_main(convert, __doc__.strip().splitlines()[0], add_arguments))
