#!/usr/bin/env python
"""Convert a ViT checkpoint (Google .npz, timm or mmpretrain layout) to a vitzoo classifier checkpoint.

    python tools/model_converters/vit_to_mm.py ViT-B_16.npz vit-b16_in21k.pth
    python tools/model_converters/vit_to_mm.py model.safetensors vit-b16_timm.pth   # timm/vit_base_patch16_224

Accepted layouts, detected from the keys (``.npz``, ``.pth``/``.bin`` read weights-only, ``.safetensors``):

* ``google``: Google's released ``.npz`` files, plain (``ViT-{B,L}_{16,32}``, ``ViT-H_14``) and hybrid
  (``R50+ViT-B_16``), ImageNet-21k (with a ``pre_logits`` layer or without) or fine-tuned;
* ``timm``: timm's ``VisionTransformer`` (hub files ``timm/vit_*``: ``vit_base_patch16_224``,
  ``vit_base_patch32_*``, ``vit_large_patch{16,32}_*``, ``vit_huge_patch14_224``, ...) and the hybrid
  ``vit_base_r50_s16_384`` (``patch_embed.backbone.*``);
* ``mmpretrain``: mmpretrain's ``VisionTransformer`` classifier (``backbone.layers.N.ln1``, ...).

The output is ``{'state_dict': ..., 'meta': ...}`` for an mmpretrain ``ImageClassifier`` with
``backbone=dict(type='backbones.ViT', arch=..., img_size=..., out_type='cls_token')``, ``neck=None`` and
``head=dict(type='VisionTransformerClsHead', hidden_dim=<pre_logits width or None>)``; the final norm
becomes ``backbone.norm{depth-1}``. A hybrid from timm needs ``hybrid_stem='timm'`` in the backbone
(timm keeps TensorFlow's padding; ``meta['hybrid_stem']`` says so). Nothing is unpickled as code.
"""
import os
import re
import sys
from collections import OrderedDict
from typing import Callable, Dict, Optional, Tuple

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import backbones  # noqa: E402,F401  (before torch extensions: patches compiled ops on CPU-only torch)
import torch  # noqa: E402
from backbones.checkpoint import find_state_dict  # noqa: E402
from backbones.convert import (ConversionError, KeyTracker, converter_main, detect_layout,  # noqa: E402
                               strip_module_prefix)
from backbones.vit import ViT  # noqa: E402

BLOCK = 'Transformer/encoderblock_{}/'
ATTN = 'MultiHeadDotProductAttention_1/'
FINAL_NORM = 'backbone.final_norm.'  # placeholder until the depth is known: becomes backbone.norm{depth-1}

# Layout name -> a key only that layout has.
LAYOUTS = {
    'google': 'embedding/kernel',
    'timm': 'patch_embed.proj.weight',
    'mmpretrain': 'backbone.patch_embed.projection.weight',
}
LAYER_PARAMS = r'(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)'


# ------------------------------------------------------------------------------------------ google
def convert_google(weights: Dict[str, np.ndarray]) -> Tuple[Dict[str, torch.Tensor], Optional[int]]:
    """Map Google's ``.npz`` arrays to the classifier's names; returns them and the head count."""
    tracker = KeyTracker(weights)

    def take(key: str) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(tracker.take(key), dtype=np.float32))

    def conv(key: str) -> torch.Tensor:  # HWIO -> OIHW
        return take(key).permute(3, 2, 0, 1).contiguous()

    def norm(dst: str, src: str, scale: str = 'scale'):
        out[dst + '.weight'] = take(f'{src}/{scale}').reshape(-1)
        out[dst + '.bias'] = take(f'{src}/bias').reshape(-1)

    def dense(dst: str, src: str):
        kernel = take(src + '/kernel')
        out[dst + '.weight'] = kernel.reshape(-1, kernel.shape[-1]).t().contiguous()
        out[dst + '.bias'] = take(src + '/bias').reshape(-1)

    out: Dict[str, torch.Tensor] = OrderedDict()
    if 'conv_root/kernel' in weights:
        resnet = 'backbone.patch_embed.resnet.'
        out[resnet + 'root.conv.weight'] = conv('conv_root/kernel')
        norm(resnet + 'root.norm', 'gn_root')
        blocks = sorted({int(m.group(1)) for m in (re.match(r'block(\d+)/', k) for k in weights) if m})
        for b in blocks:
            units = sorted({int(m.group(1)) for m in (re.match(rf'block{b}/unit(\d+)/', k) for k in weights) if m})
            for u in units:
                src, dst = f'block{b}/unit{u}/', f'{resnet}stages.{b - 1}.{u - 1}.'
                for i in (1, 2, 3):
                    out[f'{dst}conv{i}.weight'] = conv(f'{src}conv{i}/kernel')
                    norm(f'{dst}norm{i}', f'{src}gn{i}')
                if f'{src}conv_proj/kernel' in weights:
                    out[f'{dst}downsample.conv.weight'] = conv(f'{src}conv_proj/kernel')
                    norm(f'{dst}downsample.norm', f'{src}gn_proj')
    out['backbone.patch_embed.proj.weight'] = conv('embedding/kernel')
    out['backbone.patch_embed.proj.bias'] = take('embedding/bias')
    out['backbone.patch_embed.cls_token'] = take('cls').reshape(1, 1, -1)
    out['backbone.patch_embed.pos_embed'] = take('Transformer/posembed_input/pos_embedding')
    depth = len({m.group(1) for m in (re.match(r'Transformer/encoderblock_(\d+)/', k) for k in weights) if m})
    for i in range(depth):
        src, dst = BLOCK.format(i), f'backbone.layers.{i}.'
        norm(dst + 'norm1', src + 'LayerNorm_0')
        # query/key/value kernels are (in, heads, head_dim): fuse them into one (3*out, in) projection.
        out[dst + 'attn.qkv.weight'] = torch.cat([
            take(f'{src}{ATTN}{part}/kernel').flatten(1).t() for part in ('query', 'key', 'value')
        ]).contiguous()
        out[dst + 'attn.qkv.bias'] = torch.cat(
            [take(f'{src}{ATTN}{part}/bias').reshape(-1) for part in ('query', 'key', 'value')])
        dense(dst + 'attn.proj', f'{src}{ATTN}out')  # (heads, head_dim, out) kernel
        norm(dst + 'norm2', src + 'LayerNorm_2')
        dense(dst + 'mlp.fc1', src + 'MlpBlock_3/Dense_0')
        dense(dst + 'mlp.fc2', src + 'MlpBlock_3/Dense_1')
    norm(FINAL_NORM[:-1], 'Transformer/encoder_norm')
    if 'pre_logits/kernel' in weights:
        dense('head.layers.pre_logits', 'pre_logits')
    if 'head/kernel' in weights:
        dense('head.layers.head', 'head')
    tracker.check_all_used()
    heads = BLOCK.format(0) + ATTN + 'query/kernel'
    return out, int(weights[heads].shape[1]) if heads in weights else None


# ------------------------------------------------------------------------------------ timm, mmpretrain
def map_timm(key: str) -> Optional[str]:
    """timm ``VisionTransformer`` name (hybrid ``patch_embed.backbone`` = ``ResNetV2``) -> vitzoo's."""
    resnet = 'backbone.patch_embed.resnet.'
    if m := re.match(r'^patch_embed\.backbone\.stem\.(conv|norm)\.(weight|bias)$', key):
        return f'{resnet}root.{m[1]}.{m[2]}'
    if m := re.match(r'^patch_embed\.backbone\.stages\.(\d+)\.blocks\.(\d+)\.(conv[123]|norm[123]|downsample\.conv|'
                     r'downsample\.norm)\.(weight|bias)$', key):
        return f'{resnet}stages.{m[1]}.{m[2]}.{m[3]}.{m[4]}'
    if m := re.match(r'^patch_embed\.proj\.(weight|bias)$', key):
        return f'backbone.patch_embed.proj.{m[1]}'
    if key in ('cls_token', 'pos_embed'):
        return f'backbone.patch_embed.{key}'
    if m := re.match(rf'^blocks\.(\d+)\.{LAYER_PARAMS}\.(weight|bias)$', key):
        return f'backbone.layers.{m[1]}.{m[2]}.{m[3]}'
    if m := re.match(r'^norm\.(weight|bias)$', key):
        return FINAL_NORM + m[1]
    if m := re.match(r'^head\.(weight|bias)$', key):
        return f'head.layers.head.{m[1]}'
    return None


MMPRETRAIN_LAYER_RULES = {'ln1': 'norm1', 'ln2': 'norm2', 'attn.qkv': 'attn.qkv', 'attn.proj': 'attn.proj',
                          'ffn.layers.0.0': 'mlp.fc1', 'ffn.layers.1': 'mlp.fc2'}


def map_mmpretrain(key: str) -> Optional[str]:
    """mmpretrain ``VisionTransformer`` classifier name -> vitzoo's."""
    if m := re.match(r'^backbone\.patch_embed\.projection\.(weight|bias)$', key):
        return f'backbone.patch_embed.proj.{m[1]}'
    if key in ('backbone.cls_token', 'backbone.pos_embed'):
        return 'backbone.patch_embed.' + key[len('backbone.'):]
    if m := re.match(r'^backbone\.layers\.(\d+)\.(ln1|ln2|attn\.qkv|attn\.proj|ffn\.layers\.0\.0|ffn\.layers\.1)\.'
                     r'(weight|bias)$', key):
        return f'backbone.layers.{m[1]}.{MMPRETRAIN_LAYER_RULES[m[2]]}.{m[3]}'
    if m := re.match(r'^backbone\.ln1\.(weight|bias)$', key):
        return FINAL_NORM + m[1]
    if re.match(r'^head\.layers\.(head|pre_logits)\.(weight|bias)$', key):
        return key
    return None


MAPPERS: Dict[str, Callable[[str], Optional[str]]] = {'timm': map_timm, 'mmpretrain': map_mmpretrain}


def convert_renamed(state_dict: Dict[str, torch.Tensor], layout: str) -> Dict[str, torch.Tensor]:
    """timm's and mmpretrain's files hold the same tensors as ours under other names."""
    tracker = KeyTracker(state_dict)
    out, unknown = OrderedDict(), []
    for key in state_dict:
        new_key = MAPPERS[layout](key)
        if new_key is None:
            unknown.append(key)
            continue
        out[new_key] = torch.as_tensor(tracker.take(key)).float()
    if unknown:
        shown = ', '.join(unknown[:6]) + (f' and {len(unknown) - 6} more' if len(unknown) > 6 else '')
        raise ConversionError(f'{len(unknown)} keys are not part of a ViT classifier ({layout} layout): {shown}')
    tracker.check_all_used()
    return out


# ------------------------------------------------------------------------------------------- shared
def detect_arch(converted: Dict[str, torch.Tensor], num_heads: Optional[int]) -> Tuple[object, int, int]:
    """Return ``(arch, img_size, depth)``: a zoo name (or a custom arch dict), the image size the position
    embedding was made for, and the depth. Heads are not visible in tensor shapes: they come from the
    ``.npz`` kernels, the zoo entry with these shapes, or ``--num-heads`` (default: width / 64)."""
    proj = converted['backbone.patch_embed.proj.weight']
    dims, patch = int(proj.shape[0]), int(proj.shape[-1])
    depth = len({m[1] for m in (re.match(r'backbone\.layers\.(\d+)\.', k) for k in converted) if m})
    if depth == 0 or 'backbone.layers.0.mlp.fc1.weight' not in converted:
        raise ConversionError('no transformer layers found: the file is incomplete or not a ViT checkpoint')
    mlp = int(converted['backbone.layers.0.mlp.fc1.weight'].shape[0])
    arch = dict(embed_dims=dims, depth=depth, mlp_dims=mlp, patch_size=patch)
    stride = patch
    if 'backbone.patch_embed.resnet.root.conv.weight' in converted:
        units = []
        while any(k.startswith(f'backbone.patch_embed.resnet.stages.{len(units)}.') for k in converted):
            prefix = f'backbone.patch_embed.resnet.stages.{len(units)}.'
            units.append(len({k[len(prefix):].split('.')[0] for k in converted if k.startswith(prefix)}))
        arch.update(resnet_units=tuple(units),
                    resnet_width=int(converted['backbone.patch_embed.resnet.root.conv.weight'].shape[0]))
        stride *= 16
    grid = int(round((converted['backbone.patch_embed.pos_embed'].shape[1] - 1)**0.5))
    for name, settings in ViT.arch_zoo.items():
        full = {**ViT.arch_defaults, **settings}
        if all(full.get(k) == v for k, v in arch.items()) and (full['resnet_units'] is None) == ('resnet_units'
                                                                                                 not in arch):
            if num_heads is None or num_heads == full['num_heads']:
                return name, grid * stride, depth
    arch['num_heads'] = num_heads or max(dims // 64, 1)
    return {k: arch[k] for k in (*ViT.arch_keys, *sorted(set(arch) - set(ViT.arch_keys)))}, grid * stride, depth


def convert(source, args) -> Tuple[Dict[str, torch.Tensor], dict]:
    if isinstance(source, dict) and source and all(isinstance(v, np.ndarray) for v in source.values()):
        state_dict = source  # an .npz archive
    else:
        state_dict = strip_module_prefix(find_state_dict(source))
    layout = detect_layout(state_dict, LAYOUTS, 'ViT')
    if layout == 'google':
        converted, npz_heads = convert_google(state_dict)
    else:
        converted, npz_heads = convert_renamed(state_dict, layout), None
    arch, img_size, depth = detect_arch(converted, args.num_heads or npz_heads)
    converted = OrderedDict((f'backbone.norm{depth - 1}.' + k[len(FINAL_NORM):] if k.startswith(FINAL_NORM) else k, v)
                            for k, v in converted.items())
    pre_logits = converted.get('head.layers.pre_logits.weight')
    head = converted.get('head.layers.head.weight')
    meta = dict(arch=arch, img_size=img_size, layout=layout,
                num_classes=None if head is None else int(head.shape[0]),
                head_hidden_dim=None if pre_logits is None else int(pre_logits.shape[0]), out_type='cls_token')
    if 'backbone.patch_embed.resnet.root.conv.weight' in converted:
        meta['hybrid_stem'] = 'timm' if layout == 'timm' else 'seed'
    return converted, meta


def add_arguments(parser):
    parser.add_argument('--num-heads', type=int, default=None,
                        help='attention heads of a custom (non-zoo) arch in a timm/mmpretrain file '
                        '(default: width / 64)')


if __name__ == '__main__':
    sys.exit(converter_main(convert, __doc__.strip().splitlines()[0], add_arguments))
