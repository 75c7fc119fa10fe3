#!/usr/bin/env python
"""The README's demo: a small GroupMixFormer trained and tested on all three tasks with 2 processes, with pictures.

Writes the embedded data sets (real digits on real photos, in the ImageNet, COCO and ADE20K layouts),
then for classification, detection (Mask R-CNN) and segmentation (UPerNet) runs
``tools/dist_train.sh CONFIG 2`` and ``tools/dist_test.sh CONFIG CKPT 2`` (segmentation also with
``--tta``), and prints the metrics. The classifier's weights are published (weights only) and the
detection and segmentation backbones start from them through ``init_cfg``, as one fine-tunes from an
ImageNet checkpoint. On a machine without CUDA the processes run on the CPU (gloo).

Pictures (PNG, in the work dir): each task's predictions on a few validation images, drawn by the
toolboxes' own visualizers (mmpretrain's ``UniversalVisualizer``, mmdet's ``DetLocalVisualizer`` and
mmseg's ``SegLocalVisualizer``, ground truth beside prediction), the classifier's Grad-CAM
(``tools/analysis_tools/vis_cam.py``) and the training loss curves of the three runs. ``summary.json``
holds the metrics, times and picture paths that the last screen shows.
"""
import argparse
import glob
import itertools
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TASKS = [
    ('classification', 'configs/groupmixformer/groupmixformer-demo_2xb64_embedded-in1k.py', [[]]),
    ('detection', 'configs/groupmixformer/mask-rcnn_groupmixformer-demo_fpn_embedded-coco.py', [[]]),
    ('segmentation', 'configs/groupmixformer/upernet_groupmixformer-demo_2xb4_embedded-ade20k.py', [[], ['--tta']]),
]
# Fields of mmengine's log lines that the terminal summary leaves out (they stay in the log files).
NOISY_FIELDS = re.compile(r'\s*(base_lr|eta|data_time|memory|grad_norm|time|acc): \S+')
PUBLISHED_BACKBONE = 'work_dirs/demo/groupmixformer-demo_embedded-in1k.pth'  # what the dense demo configs load
# (metric key, label) shown in the summary for each task; the first is the task's headline.
SHOWN_METRICS = {
    'classification': [('accuracy/top1', 'top-1 (%)')],
    'detection': [('coco/bbox_mAP_50', 'bbox mAP_50'), ('coco/bbox_mAP', 'bbox mAP'),
                  ('coco/segm_mAP_50', 'mask mAP_50'), ('coco/segm_mAP', 'mask mAP')],
    'segmentation': [('mIoU', 'mIoU (%)'), ('aAcc', 'aAcc (%)')],
}
PICTURE_IMAGES = 3  # validation images drawn for detection and segmentation


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


# ------------------------------------------------------------------------------------------ pictures
def load_cpu_config(config):
    """The config as tools/test.py adapts it to this machine (BN for SyncBN without CUDA)."""
    from mmengine.config import Config
    from backbones.runtime import prepare_config
    cfg = Config.fromfile(osp.join(ROOT, config))
    cfg.work_dir = ROOT
    return prepare_config(cfg, 'none')


def test_samples(cfg, model, indices):
    """Run ``model`` on the test set's samples ``indices``; returns data samples with gt and prediction."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    samples = []
    for index in indices:
        samples += model.test_step(pseudo_collate([dataset[index]]))
    return dataset, samples


def stack(images, gap=6):
    """Stack RGB images top to bottom on white, left-aligned."""
    import numpy as np
    width = max(image.shape[1] for image in images)
    rows = []
    for image in images:
        row = np.full((image.shape[0] + gap, width, 3), 255, np.uint8)
        row[:image.shape[0], :image.shape[1]] = image
        rows.append(row)
    return np.concatenate(rows)[:-gap]


def save_png(image, path):
    import mmcv
    mmcv.imwrite(image[..., ::-1], path)  # mmcv writes BGR
    return path


def draw_samples(visualizer, samples, out_file, **kwargs):
    """Let an mmdet/mmseg visualizer draw each sample (ground truth | prediction) and stack them in one PNG."""
    import mmcv
    drawn = []
    for i, sample in enumerate(samples):
        part = f'{out_file[:-4]}_{i}.png'
        image = mmcv.imread(sample.img_path, channel_order='rgb')
        visualizer.add_datasample(osp.basename(sample.img_path), image, sample, out_file=part, **kwargs)
        drawn.append(mmcv.imread(part, channel_order='rgb'))
        os.remove(part)
    return save_png(stack(drawn), out_file)


def draw_classification(config, checkpoint, out_dir):
    """Predictions on one validation image per class, and the Grad-CAM of a few of them."""
    import mmcv
    import numpy as np
    import torch
    sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))
    import vis_cam
    from mmpretrain.visualization import UniversalVisualizer

    model, cfg = vis_cam.build_classifier(osp.join(ROOT, config), checkpoint, stage=0)
    from mmengine.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    labels = dataset.get_gt_labels()
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(len(dataset.CLASSES))]
    visualizer = UniversalVisualizer.get_instance('demo_classification')
    visualizer.dataset_meta = dataset.metainfo
    from mmengine.dataset import pseudo_collate
    tiles = []
    with torch.no_grad():
        for index in first:
            sample = model.test_step(pseudo_collate([dataset[index]]))[0]
            image = mmcv.imread(dataset.get_data_info(index)['img_path'], channel_order='rgb')
            tiles.append(visualizer.visualize_cls(image, sample, resize=128))
    half = (len(tiles) + 1) // 2
    rows = [np.concatenate([t for tile in tiles[i:i + half] for t in (tile, np.full((tile.shape[0], 6, 3), 255,
                                                                                       np.uint8))][:-1], axis=1)
            for i in (0, half)]
    predictions = save_png(stack(rows), osp.join(out_dir, 'predictions.png'))
    cam_paths = [dataset.get_data_info(i)['img_path'] for i in first[:4]]
    attention = osp.join(out_dir, 'attention.png')
    vis_cam.draw_cams(model, cfg, cam_paths, attention, stage=0, labels=[labels[i] for i in first[:4]])
    return [predictions, attention]


def draw_detection(config, checkpoint, out_dir):
    """Ground truth | predicted boxes and masks on the first validation images."""
    import mmcv
    import torch
    from mmdet.apis import init_detector
    from mmdet.visualization import DetLocalVisualizer
    cfg = load_cpu_config(config)
    model = init_detector(cfg, checkpoint, device='cpu')
    with torch.no_grad():
        dataset, samples = test_samples(cfg, model, range(PICTURE_IMAGES))
    visualizer = DetLocalVisualizer(name='demo_detection')
    visualizer.dataset_meta = dataset.metainfo
    return [draw_samples(visualizer, samples, osp.join(out_dir, 'predictions.png'), pred_score_thr=0.3)]


def draw_segmentation(config, checkpoint, out_dir):
    """Ground truth | predicted segmentation overlays on the first validation images."""
    import mmcv
    import torch
    from mmseg.apis import init_model
    from mmseg.visualization import SegLocalVisualizer
    cfg = load_cpu_config(config)
    model = init_model(cfg, checkpoint, device='cpu')
    with torch.no_grad():
        dataset, samples = test_samples(cfg, model, range(PICTURE_IMAGES))
    visualizer = SegLocalVisualizer(name='demo_segmentation', alpha=0.6)
    visualizer.dataset_meta = dataset.metainfo
    return [draw_samples(visualizer, samples, osp.join(out_dir, 'predictions.png'))]


DRAW = {'classification': draw_classification, 'detection': draw_detection, 'segmentation': draw_segmentation}


def training_losses(task_dir):
    """(steps, {name: values}) of the loss terms that mmengine's LocalVisBackend logged in training."""
    steps, losses = [], {}
    for path in sorted(glob.glob(osp.join(task_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records = [json.loads(line) for line in f if '"loss"' in line]
        if records:  # the training run's file (test runs log metrics only)
            steps = [r['step'] for r in records]
            losses = {k: [r.get(k) for r in records] for k in records[0] if k.startswith('loss') or '.loss' in k}
    return steps, losses


def draw_loss_curves(task_dirs, out_file):
    """One panel per run: its total loss and the terms it is made of, per training iteration."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(task_dirs), figsize=(5 * len(task_dirs), 3.6), squeeze=False)
    for ax, (task, task_dir) in zip(axes[0], task_dirs.items()):
        steps, losses = training_losses(task_dir)
        for name, values in losses.items():
            ax.plot(steps, values, label=name, linewidth=2.2 if name == 'loss' else 1.0,
                    color='black' if name == 'loss' else None)
        ax.set_title(task)
        ax.set_xlabel('iteration')
        ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_file)
    plt.close(fig)
    return out_file


# ------------------------------------------------------------------------------------------- summary
def print_summary(summary):
    """The last screen: one line per metric, with the run's time and its pictures."""
    print(f'\nDemo finished in {summary["seconds"]:.0f} s. Metrics on the embedded validation sets:')
    print(f'  {"task":24s} {"metric":12s} {"value":>6s} {"time":>6s}  picture')
    for row in summary['rows']:
        seconds = f'{row["seconds"]:.0f} s' if row.get('seconds') else ''
        for i, (metric, picture) in enumerate(itertools.zip_longest(row['metrics'], row['pictures'])):
            label, value = metric or ('', None)
            print(f'  {row["name"] if i == 0 else "":24s} {label:12s} '
                  f'{"" if value is None else f"{value:.2f}":>6s} {seconds if i == 0 else "":>6s}  '
                  f'{osp.relpath(picture, ROOT) if picture else ""}'.rstrip())
    if summary.get('loss_curves'):
        print(f'  {"training losses":24s} {"":12s} {"":6s} {"":6s}  {osp.relpath(summary["loss_curves"], ROOT)}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where runs, logs and pictures go')
    parser.add_argument('--gpus', type=int, default=2, help='processes per run (GPUs, or CPU processes)')
    parser.add_argument('--tasks', nargs='+', choices=[t[0] for t in TASKS], default=[t[0] for t in TASKS])
    args = parser.parse_args()
    work_dir = osp.join(ROOT, args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    start = time.time()
    run([sys.executable, 'tools/misc/make_embedded_data.py', '--out', 'data/embedded'],
        osp.join(work_dir, 'make_data.log'))
    sys.path.insert(0, ROOT)
    summary = {'rows': []}
    task_dirs = {}
    for task, config, test_variants in TASKS:
        if task not in args.tasks:
            continue
        print(f'\n=== {task}: {config}', flush=True)
        task_dir = task_dirs[task] = osp.join(work_dir, task)
        if task != 'classification' and not osp.exists(osp.join(ROOT, PUBLISHED_BACKBONE)):
            sys.exit(f'demo: {task} starts from the classification demo\'s weights ({PUBLISHED_BACKBONE}); '
                     'run the classification task first')
        task_start = time.time()
        run(['bash', 'tools/dist_train.sh', config, str(args.gpus), '--work-dir', task_dir],
            osp.join(work_dir, f'{task}_train.log'))
        with open(osp.join(task_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        rows = []
        for extra in test_variants:
            suffix = '_tta' if extra else ''
            metrics_path = osp.join(task_dir, f'metrics{suffix}.json')
            run(['bash', 'tools/dist_test.sh', config, checkpoint, str(args.gpus), '--work-dir', task_dir,
                 '--metrics-json', metrics_path, *extra], osp.join(work_dir, f'{task}_test{suffix}.log'))
            with open(metrics_path) as f:
                metrics = json.load(f)
            rows.append({'name': task + (' (--tta)' if extra else ''), 'metrics': [
                (label, float(metrics[key])) for key, label in SHOWN_METRICS[task] if key in metrics]})
        if task == 'classification':
            run([sys.executable, 'tools/model_converters/publish_model.py', checkpoint, PUBLISHED_BACKBONE, '--force'],
                osp.join(work_dir, 'publish.log'))
            checkpoint = osp.join(ROOT, PUBLISHED_BACKBONE)
        from backbones.checkpoint import trust_checkpoints_in
        trust_checkpoints_in(task_dir)  # this run's own checkpoint
        rows[0]['pictures'] = DRAW[task](config, checkpoint, task_dir)
        for row in rows[1:]:
            row['pictures'] = []
        rows[0]['seconds'] = time.time() - task_start
        summary['rows'] += rows
        print(f'=== {task} done in {rows[0]["seconds"]:.0f} s', flush=True)
    if task_dirs:
        summary['loss_curves'] = draw_loss_curves(task_dirs, osp.join(work_dir, 'loss_curves.png'))
    summary['seconds'] = time.time() - start
    with open(osp.join(work_dir, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    print_summary(summary)


if __name__ == '__main__':
    main()
