#!/usr/bin/env python
"""Train a classifier, detector or segmentor: one entry point for mmpretrain, mmdet and mmseg configs.

The config's ``default_scope`` picks the toolbox. Examples::

    python tools/train.py configs/gcvit/gcvit-t_8xb128_in1k.py
    tools/dist_train.sh configs/gcvit/mask-rcnn_gcvit-t_fpn_1x_coco.py 8 \\
        --cfg-options model.backbone.init_cfg.checkpoint=gcvit-t_in1k.pth
"""
import _runner_cli as cli  # first: the repository on sys.path, backbones imported
from mmengine.config import Config

from backbones.amp import enable_amp
from backbones.fault_tolerance import exit_with_message
from backbones.runtime import prepare_config


def parse_args(argv=None):
    parser = cli.make_parser('Train a model (classification, detection or segmentation)',
                             [('config', 'config file')],
                             'where logs and checkpoints go (default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or from the latest one in the work dir if no path')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 with loss scaling on a GPU, bfloat16 on a CPU')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual batch size / auto_scale_lr.base_batch_size')
    return cli.parse_args(parser, 'model.backbone.init_cfg.checkpoint=PATH', argv)


def build_config(args) -> Config:
    cfg = cli.load_config(args, 'train.py', [(args.config, 'config')])
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
    cli.run('train.py', args, build_config, ('train', 'val'), 'train')


if __name__ == '__main__':
    main()
