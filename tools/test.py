#!/usr/bin/env python
"""Evaluate a checkpoint: one entry point for mmpretrain, mmdet and mmseg configs.

    python tools/test.py CONFIG CHECKPOINT [--tta] [--out results.pkl]

``--tta`` runs the config's test-time augmentation (``tta_model`` and ``tta_pipeline``; the
segmentation configs carry multi-scale 0.5-1.75 + flip).
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
from backbones.checkpoint import UnsafeCheckpointError, trust_checkpoints_in  # noqa: E402
from backbones.fault_tolerance import exit_with_message, guard_run  # noqa: E402
from backbones.preflight import InputError, check_data, merge_cfg_options  # noqa: E402
from backbones.runtime import init_distributed, prepare_config, write_metrics_json  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a model (classification, detection or segmentation)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where the evaluation logs go (default: work_dirs/<config name>)')
    parser.add_argument('--tta', action='store_true', help="use the config's test-time augmentation")
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: float16 autocast on a GPU, bfloat16 on a CPU')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='fully unpickle CHECKPOINT, a file vitzoo did not write (only if you trust its '
                        'origin: a pickle can run code); vitzoo\'s own checkpoints load safely from anywhere')
    parser.add_argument('--metrics-json', help='also write the final metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.dataset.data_root=DIR')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            exit_with_message(f'test.py: error: {what} {path} does not exist')
    cfg = Config.fromfile(args.config)
    merge_cfg_options(cfg, args.cfg_options)
    cfg.launcher = args.launcher
    cfg.work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        'work_dirs', osp.splitext(osp.basename(args.config))[0])
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
    try:
        cfg = build_config(args)
        check_data(cfg, ('test', ))
    except InputError as err:
        exit_with_message(f'test.py: error: {err}')
    guard_run(cfg, 'test.py', hold_work_dir=False)  # dies with its launcher, quiet Ctrl-C
    init_distributed(args.launcher)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    try:
        metrics = runner.test()
    except (UnsafeCheckpointError, FileNotFoundError) as err:
        exit_with_message(f'test.py: error: {err}')
    if args.metrics_json and int(os.environ.get('RANK', '0')) == 0:
        write_metrics_json(metrics, args.metrics_json)
    return metrics


if __name__ == '__main__':
    main()
