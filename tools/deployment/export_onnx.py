#!/usr/bin/env python
"""Export a config's model to ONNX and check it against PyTorch in onnxruntime.

    python tools/deployment/export_onnx.py CONFIG OUT.onnx [--checkpoint CKPT] [--shape H W] [--dynamic]

Exports what a deployment runs on a normalised (B, 3, H, W) batch: a classifier's logits, a segmentor's
decode-head logits (``model(x, mode='tensor')``), a detector's backbone + neck pyramid (``extract_feat``).
``--dynamic`` makes batch, height and width symbolic (any size for a classifier, multiples of 32 for a
detector; a segmentor's batch only). The exported file is then run in onnxruntime on random inputs (the
export shape, and a second shape with ``--dynamic``) and the largest absolute difference to PyTorch is
printed. See :mod:`backbones.deploy`.
"""
import argparse
import os.path as osp
import sys
import warnings

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..', '..'))
import backbones  # noqa: E402,F401  (first: registers the backbones and makes torchvision importable on CPU)
from backbones.checkpoint import UnsafeCheckpointError  # noqa: E402
from backbones.deploy import (SIZE_MULTIPLE, build_export_module, check_export_args, compare_onnx,  # noqa: E402
                              dynamic_size_multiple, dynamic_size_supported, export_onnx, task_of)
from mmengine.config import Config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export a model to ONNX and compare it with PyTorch')
    parser.add_argument('config', help='config file')
    parser.add_argument('out', help='ONNX file to write')
    parser.add_argument('--checkpoint', help='weights to load (default: the random initialisation)')
    parser.add_argument('--shape', type=int, nargs='+', default=[224, 224], metavar='H W',
                        help='input height and width of the export (default: 224 224)')
    parser.add_argument('--dynamic', action='store_true',
                        help=f'symbolic batch, height and width (a detector\'s sides multiples of {SIZE_MULTIPLE})')
    parser.add_argument('--opset', type=int, help='ONNX opset (default: the exporter\'s)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        check_export_args(args.config, args.checkpoint, args.shape)
        with warnings.catch_warnings():  # reading an mmdet:: base imports pkg_resources, which warns of itself
            warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
            task = task_of(Config.fromfile(args.config))
        multiple = dynamic_size_multiple(task)
        if args.dynamic and any(s % multiple for s in args.shape):
            raise ValueError(f'--shape {args.shape[0]} {args.shape[1]} with --dynamic: each side of a '
                             f'{task} model must be a multiple of {multiple}')
        module, _ = build_export_module(args.config, args.checkpoint)
    except (ValueError, UnsafeCheckpointError) as err:
        sys.exit(f'export_onnx.py: error: {err}')
    h, w = args.shape
    dynamic_hw = args.dynamic and dynamic_size_supported(module.task)
    export_onnx(module, args.out, (h, w), dynamic=args.dynamic, opset=args.opset)
    layout = 'dynamic batch, H, W' if dynamic_hw else f'{"N" if args.dynamic else 1}x3x{h}x{w}'
    print(f'exported {module.task} model of {args.config} to {args.out} ({layout})')
    if args.dynamic and not dynamic_hw:
        print(f'note: a {module.task} model keeps H and W fixed in ONNX (UPerNet pools adaptively); '
              'export one file per deployment size')
    # with symbolic H and W, a second size (a classifier's off the 32-grid too)
    step = SIZE_MULTIPLE if multiple > 1 else SIZE_MULTIPLE + 23
    shapes = [(h, w)] + ([(h + step, w + 2 * step)] if dynamic_hw else [])
    errors = compare_onnx(module, args.out, shapes, batch=2 if args.dynamic else 1)
    for (sh, sw), (error, scale) in errors.items():
        print(f'onnxruntime vs PyTorch at {sh}x{sw}: max abs error {error:.3g} (outputs up to {scale:.3g})')
        if error > 1e-3 * max(scale, 1.):
            sys.exit(f'export_onnx.py: error: {args.out} differs from PyTorch by {error:.3g} at {sh}x{sw}')
    return errors


if __name__ == '__main__':
    main()
