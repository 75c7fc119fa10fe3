#!/usr/bin/env python
"""The README's demo: a small GC ViT trained and tested on all three tasks with 2 processes.

Writes the embedded data sets (real digits on real photos, in the ImageNet, COCO and ADE20K layouts),
then for classification, detection (Mask R-CNN) and segmentation (UPerNet) runs
``tools/dist_train.sh CONFIG 2`` and ``tools/dist_test.sh CONFIG CKPT 2`` (segmentation also with
``--tta``), and prints the metrics. The classifier's weights are published (weights only) and the
detection and segmentation backbones start from them through ``init_cfg``, as one fine-tunes from an
ImageNet checkpoint. On a machine without CUDA the processes run on the CPU (gloo).
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASKS = [
    ('classification', 'configs/gcvit/gcvit-demo_2xb16_embedded-in1k.py', []),
    ('detection', 'configs/gcvit/mask-rcnn_gcvit-demo_fpn_embedded-coco.py', []),
    ('segmentation', 'configs/gcvit/upernet_gcvit-demo_2xb4_embedded-ade20k.py', [[], ['--tta']]),
]
# Fields of mmengine's log lines that the terminal summary leaves out (they stay in the log files).
NOISY_FIELDS = re.compile(r'\s*(base_lr|eta|data_time|memory|grad_norm|time|acc): \S+')
PUBLISHED_BACKBONE = 'work_dirs/demo/gcvit-demo_embedded-in1k.pth'  # what the dense demo configs load
SHOWN_METRICS = ('accuracy/top1', 'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50', 'mIoU',
                 'aAcc')


def run(cmd, log_path):
    """Run a command, streaming its output to the terminal and to log_path; exit on failure."""
    print('$ ' + ' '.join(cmd), flush=True)
    with open(log_path, 'w') as log:
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in process.stdout:
            log.write(line)
            # progress and metric lines, condensed; everything else stays in the log file
            match = re.search(r'(Epoch|Iter)\((train|val|test)\).*', line)
            if match:
                print('  ' + NOISY_FIELDS.sub('', match.group(0)).strip()[:200], flush=True)
            elif 'Error' in line or 'error:' in line:
                print('  ' + line.rstrip(), flush=True)
        if process.wait() != 0:
            sys.exit(f'demo: `{" ".join(cmd)}` failed; see {log_path}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where runs and logs go')
    parser.add_argument('--gpus', type=int, default=2, help='processes per run (GPUs, or CPU processes)')
    parser.add_argument('--tasks', nargs='+', choices=[t[0] for t in TASKS], default=[t[0] for t in TASKS])
    args = parser.parse_args()
    work_dir = osp.join(ROOT, args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()
    run([sys.executable, 'tools/misc/make_embedded_data.py', '--out', 'data/embedded'],
        osp.join(work_dir, 'make_data.log'))
    results = {}
    for task, config, test_variants in TASKS:
        if task not in args.tasks:
            continue
        print(f'\n=== {task}: {config}', flush=True)
        task_dir = osp.join(work_dir, task)
        if task != 'classification' and not osp.exists(osp.join(ROOT, PUBLISHED_BACKBONE)):
            sys.exit(f'demo: {task} starts from the classification demo\'s weights ({PUBLISHED_BACKBONE}); '
                     'run the classification task first')
        task_start = time.time()
        run(['bash', 'tools/dist_train.sh', config, str(args.gpus), '--work-dir', task_dir],
            osp.join(work_dir, f'{task}_train.log'))
        with open(osp.join(task_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        for extra in test_variants or [[]]:
            name = task + (' (multi-scale + flip)' if '--tta' in extra else '')
            metrics_path = osp.join(task_dir, 'metrics' + ('_tta' if extra else '') + '.json')
            run(['bash', 'tools/dist_test.sh', config, checkpoint, str(args.gpus), '--work-dir', task_dir,
                 '--metrics-json', metrics_path, *extra],
                osp.join(work_dir, f'{task}_test{"_tta" if extra else ""}.log'))
            with open(metrics_path) as f:
                results[name] = json.load(f)
        if task == 'classification':
            run([sys.executable, 'tools/model_converters/publish_model.py', checkpoint, PUBLISHED_BACKBONE, '--force'],
                osp.join(work_dir, 'publish.log'))
        print(f'=== {task} done in {time.time() - task_start:.0f} s', flush=True)
    print(f'\nDemo finished in {time.time() - start:.0f} s. Metrics on the embedded validation sets:')
    for name, metrics in results.items():
        shown = {k: v for k, v in metrics.items() if k in SHOWN_METRICS} or metrics
        print(f'  {name:32s} ' + '  '.join(f'{k}={v:.2f}' if isinstance(v, float) else f'{k}={v}'
                                          for k, v in shown.items()))


if __name__ == '__main__':
    main()
