#!/usr/bin/env python
"""Evaluate a checkpoint: one entry point for mmpretrain, mmdet and mmseg configs.

    python tools/test.py CONFIG CHECKPOINT [--tta] [--out results.pkl]

``--tta`` runs the config's test-time augmentation (``tta_model`` and ``tta_pipeline``; the
segmentation configs carry multi-scale 0.5-1.75 + flip).
"""
import os
import os.path as osp

import _runner_cli as cli  # first: the repository on sys.path, backbones imported
from mmengine.config import Config

from backbones.amp import enable_amp
from backbones.checkpoint import trust_checkpoints_in
from backbones.fault_tolerance import exit_with_message
from backbones.runtime import prepare_config, write_metrics_json


def parse_args(argv=None):
    parser = cli.make_parser('Test a model (classification, detection or segmentation)',
                             [('config', 'config file'), ('checkpoint', 'checkpoint file')],
                             'where the evaluation logs go (default: work_dirs/<config name>)')
    parser.add_argument('--tta', action='store_true', help="use the config's test-time augmentation")
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 autocast on a GPU, bfloat16 on a CPU')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle CHECKPOINT, a file vitzoo did not write (only if you trust its '
                        'origin: a pickle can run code); vitzoo\'s own checkpoints load safely from anywhere')
    parser.add_argument('--metrics-json', help='also write the final metrics to this JSON file')
    return cli.parse_args(parser, 'test_dataloader.dataset.data_root=DIR', argv)


def build_config(args) -> Config:
    cfg = cli.load_config(args, 'test.py', [(args.config, 'config'), (args.checkpoint, 'checkpoint')])
    cfg.load_from = args.checkpoint
    if args.amp:
        enable_amp(cfg, training=False)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            exit_with_message(f'test.py: error: {args.config} has no tta_model/tta_pipeline for --tta')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out:
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(cfg.test_evaluator, (list, tuple)) \
            else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    cfg = prepare_config(cfg, args.launcher)
    if args.trust_checkpoint:
        trust_checkpoints_in(osp.abspath(args.checkpoint))
    return cfg


def main(argv=None):
    args = parse_args(argv)
    # hold_work_dir=False: evaluations may share a work dir with a training run
    metrics = cli.run('test.py', args, build_config, ('test', ), 'test', hold_work_dir=False)
    if args.metrics_json and int(os.environ.get('RANK', '0')) == 0:
        write_metrics_json(metrics, args.metrics_json)
    return metrics


if __name__ == '__main__':
    main()
