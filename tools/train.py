#!/usr/bin/env python
"""Train a classifier, detector or segmentor: one entry point for mmpretrain, mmdet and mmseg configs.

The config's ``default_scope`` picks the toolbox. Examples::

    python tools/train.py configs/gcvit/gcvit-t_8xb128_in1k.py
    tools/dist_train.sh configs/gcvit/mask-rcnn_gcvit-t_fpn_1x_coco.py 8 \\
        --cfg-options model.backbone.init_cfg.checkpoint=gcvit-t_in1k.pth
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))
import backbones  # noqa: E402,F401  (first: registers the backbones and makes torchvision importable on CPU)
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import RUNNERS  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from backbones.amp import enable_amp  # noqa: E402
from backbones.checkpoint import UnsafeCheckpointError  # noqa: E402
from backbones.fault_tolerance import exit_with_message, guard_run  # noqa: E402
from backbones.preflight import InputError, check_data, merge_cfg_options  # noqa: E402
from backbones.runtime import init_distributed, prepare_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model (classification, detection or segmentation)')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or from the latest one in the work dir if no path')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 with loss scaling on a GPU, bfloat16 on a CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. model.backbone.init_cfg.checkpoint=PATH')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        exit_with_message(f'train.py: error: config {args.config} does not exist')
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        try:
            enable_amp(cfg, training=True)
        except ValueError as err:
            exit_with_message(f'train.py: error: {err}')
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            exit_with_message('train.py: error: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return prepare_config(cfg, args.launcher)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = build_config(args)
        check_data(cfg, ('train', 'val'))
    except InputError as err:
        exit_with_message(f'train.py: error: {err}')
    guard_run(cfg, 'train.py')  # dies with its launcher, holds the work dir, atomic saves, resume past damage
    init_distributed(args.launcher)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    try:
        runner.train()
    except (UnsafeCheckpointError, FileNotFoundError) as err:
        exit_with_message(f'train.py: error: {err}')


if __name__ == '__main__':
    main()
