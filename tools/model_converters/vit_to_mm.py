"""Convert Google's released ViT ``.npz`` weights to a vitzoo classifier checkpoint.

Handles the ImageNet-21k files (with a ``pre_logits`` layer or without) and the 21k+ImageNet-2012
fine-tuned ones, plain (``ViT-{B,L}_{16,32}``, ``ViT-H_14``) and hybrid (``R50+ViT-B_16``). The output
is ``{'state_dict': ..., 'meta': ...}`` for an mmpretrain ``ImageClassifier`` with
``backbone=dict(type='backbones.ViT', arch=..., img_size=..., out_type='cls_token')``, ``neck=None`` and
``head=dict(type='VisionTransformerClsHead', hidden_dim=<pre_logits width or None>)``; the final
``encoder_norm`` becomes ``backbone.norm{depth-1}``.

Example::

    python tools/model_converters/vit_to_mm.py ViT-B_16.npz vit-b16_in21k.pth
"""
import argparse
import os
import re
import sys
from collections import OrderedDict
from typing import Dict, Tuple

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import backbones  # noqa: E402,F401  (before torch extensions: patches compiled ops on CPU-only torch)
import torch  # noqa: E402
from backbones.checkpoint import UnsafeCheckpointError, load_weights_file  # noqa: E402
from backbones.vit import ViT  # noqa: E402

BLOCK = 'Transformer/encoderblock_{}/'
ATTN = 'MultiHeadDotProductAttention_1/'


class ConversionError(ValueError):
    """The file is not a ViT checkpoint this converter understands."""


def detect_arch(weights: Dict[str, np.ndarray]) -> Tuple[object, int]:
    """Return ``(arch, img_size)``: a zoo name (or a custom arch dict) and the pretraining image size."""
    for key in ('embedding/kernel', 'cls', 'Transformer/posembed_input/pos_embedding'):
        if key not in weights:
            raise ConversionError(f'no {key!r} in the file: not a Google ViT .npz checkpoint')
    patch, _, _, dims = weights['embedding/kernel'].shape
    depth = len({m.group(1) for m in (re.match(r'Transformer/encoderblock_(\d+)/', k) for k in weights) if m})
    heads = weights[BLOCK.format(0) + ATTN + 'query/kernel'].shape[1]
    mlp = weights[BLOCK.format(0) + 'MlpBlock_3/Dense_0/kernel'].shape[1]
    arch = dict(embed_dims=int(dims), depth=depth, num_heads=int(heads), mlp_dims=int(mlp), patch_size=int(patch))
    stride = int(patch)
    if 'conv_root/kernel' in weights:
        units = []
        while any(k.startswith(f'block{len(units) + 1}/') for k in weights):
            block = len(units) + 1
            units.append(len({k.split('/')[1] for k in weights if k.startswith(f'block{block}/')}))
        arch.update(resnet_units=tuple(units), resnet_width=int(weights['conv_root/kernel'].shape[3]))
        stride *= 16
    grid = int(round((weights['Transformer/posembed_input/pos_embedding'].shape[1] - 1)**0.5))
    for name, settings in ViT.arch_zoo.items():
        full = {**ViT.arch_defaults, **settings}
        if all(full.get(k) == v for k, v in arch.items()) and (full['resnet_units'] is None) == ('resnet_units'
                                                                                                 not in arch):
            return name, grid * stride
    return arch, grid * stride


def convert(weights: Dict[str, np.ndarray]) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Map official ``.npz`` arrays to the classifier's state dict; every array must be used."""
    arch, img_size = detect_arch(weights)
    used = set()

    def take(key: str) -> torch.Tensor:
        if key not in weights:
            raise ConversionError(f'missing {key!r}: the file is incomplete or not a ViT checkpoint')
        used.add(key)
        return torch.from_numpy(np.ascontiguousarray(weights[key], dtype=np.float32))

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
    depth = arch['depth'] if isinstance(arch, dict) else ViT.arch_zoo[arch]['depth']
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
    norm(f'backbone.norm{depth - 1}', 'Transformer/encoder_norm')
    hidden_dim = None
    if 'pre_logits/kernel' in weights:
        dense('head.layers.pre_logits', 'pre_logits')
        hidden_dim = int(weights['pre_logits/kernel'].shape[1])
    num_classes = None
    if 'head/kernel' in weights:
        dense('head.layers.head', 'head')
        num_classes = int(weights['head/kernel'].shape[1])

    unknown = sorted(set(weights) - used)
    if unknown:
        shown = ', '.join(unknown[:8]) + (f' and {len(unknown) - 8} more' if len(unknown) > 8 else '')
        raise ConversionError(f'unknown keys, not converted: {shown}')
    meta = dict(arch=arch, img_size=img_size, num_classes=num_classes, head_hidden_dim=hidden_dim,
                out_type='cls_token', converted_from='Google ViT .npz')
    return out, meta


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert a Google ViT / R50+ViT .npz checkpoint to a vitzoo (mmpretrain ImageClassifier "
        "with backbones.ViT and VisionTransformerClsHead) checkpoint.")
    parser.add_argument('src', help='official .npz file (read without unpickling)')
    parser.add_argument('dst', help='output .pth file')
    parser.add_argument('--force', action='store_true', help='overwrite DST if it exists')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if os.path.exists(args.dst) and not args.force:
        print(f'error: {args.dst} exists; pass --force to overwrite it', file=sys.stderr)
        return 1
    try:
        weights = load_weights_file(args.src)
        if not isinstance(weights, dict) or not all(isinstance(v, np.ndarray) for v in weights.values()):
            raise ConversionError('expected a Google .npz file of arrays')
        state_dict, meta = convert(weights)
    except (UnsafeCheckpointError, ConversionError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    meta['source'] = os.path.basename(args.src)
    tmp = f'{args.dst}.tmp{os.getpid()}'
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    try:
        torch.save({'state_dict': state_dict, 'meta': meta}, tmp)
        os.replace(tmp, args.dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    arch = meta['arch'] if isinstance(meta['arch'], str) else f'custom {meta["arch"]}'
    print(f'converted {meta["source"]}: ViT arch {arch}, img_size {meta["img_size"]}, '
          f'{meta["num_classes"]} classes, pre_logits {meta["head_hidden_dim"]}, {len(state_dict)} tensors '
          f'-> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
