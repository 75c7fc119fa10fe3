"""End-to-end runs through the real entry points on the embedded data sets.

* ``tools/dist_train.sh`` / ``tools/dist_test.sh`` with 2 processes (gloo on CPU), then ``--resume``;
* real configs of each task (not the demo ones) trained for a couple of iterations and tested, with only
  ``--cfg-options`` overrides pointing them at the embedded data, as the README describes.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from contract import ROOT

pytestmark = pytest.mark.slow
DIGITS = "('zero','one','two','three','four','five','six','seven','eight','nine')"


def _run(args, log_path):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    with open(log_path, 'w') as f:
        f.write(result.stdout + result.stderr)
    assert result.returncode == 0, f'{args} failed, log: {log_path}\n{result.stderr[-3000:]}'
    return result.stdout + result.stderr


def _train_then_test(config, options, tmp_path, checkpoint, test_args=()):
    """``tools/train.py`` on ``config``, then ``tools/test.py`` (with ``test_args``) on its ``checkpoint``;
    returns the training log and the test's metrics."""
    work_dir = tmp_path / 'work'
    train_log = _run([sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir), '--cfg-options',
                      *options], tmp_path / 'train.log')
    metrics = tmp_path / 'metrics.json'
    _run([sys.executable, 'tools/test.py', config, str(work_dir / checkpoint), '--work-dir', str(work_dir),
          '--metrics-json', str(metrics), '--cfg-options', *options, *test_args], tmp_path / 'test.log')
    return train_log, json.loads(metrics.read_text())


def test_dist_train_test_and_resume_with_two_processes(data_root, tmp_path):
    config = 'configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py'
    root = str(data_root / 'imagenet')
    data = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    work_dir = tmp_path / 'work'
    log = _run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work_dir), '--cfg-options', *data,
                'train_cfg.max_epochs=2'], tmp_path / 'train.log')
    assert 'Distributed training: True' in log
    assert (work_dir / 'epoch_2.pth').exists()

    metrics = tmp_path / 'metrics.json'
    _run(['bash', 'tools/dist_test.sh', config, str(work_dir / 'epoch_2.pth'), '2', '--work-dir', str(work_dir),
          '--metrics-json', str(metrics), '--cfg-options', *data], tmp_path / 'test.log')
    result = json.loads(metrics.read_text())
    assert 0 <= result['accuracy/top1'] <= 100

    # --resume picks up epoch 2 (optimizer, scheduler and message hub included) and trains epoch 3 only
    log = _run(['bash', 'tools/dist_train.sh', config, '2', '--work-dir', str(work_dir), '--resume',
                '--cfg-options', *data, 'train_cfg.max_epochs=3'], tmp_path / 'resume.log')
    assert 'resumed epoch: 2' in log
    assert not re.search(r'Epoch\(train\)\s+\[1\]\[', log) and re.search(r'Epoch\(train\)\s+\[3\]\[', log)
    assert (work_dir / 'epoch_3.pth').exists()


def test_real_detection_config_on_embedded_coco(data_root, tmp_path):
    config = 'configs/gcvit/mask-rcnn_gcvit-xxt_fpn_1x_coco.py'
    root = str(data_root / 'coco') + '/'
    options = ['model.backbone.init_cfg=None', 'model.roi_head.bbox_head.num_classes=10',
               'model.roi_head.mask_head.num_classes=10', 'train_cfg.max_epochs=1', 'train_dataloader.batch_size=2',
               # small images keep one CPU step short (the Resize of mmdet's COCO train and test pipelines)
               'train_dataloader.dataset.pipeline.2.scale=(320,320)',
               'test_dataloader.dataset.pipeline.1.scale=(320,320)',
               'val_dataloader.dataset.pipeline.1.scale=(320,320)']
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={root}', f'{split}_dataloader.dataset.indices=2',
                    f'{split}_dataloader.dataset.metainfo.classes={DIGITS}', f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    for split in ('val', 'test'):
        options.append(f'{split}_evaluator.ann_file={root}annotations/instances_val2017.json')
    _, metrics = _train_then_test(config, options, tmp_path, 'epoch_1.pth')
    assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(metrics)


@pytest.mark.parametrize('config', [
    'configs/gcvit/upernet_gcvit-xxt_8xb2-160k_ade20k-512x512.py',
    'configs/davit/upernet_davit-t_8xb2-160k_ade20k-512x512.py',
    'configs/groupmixformer/upernet_groupmixformer-t_8xb2-160k_ade20k-512x512.py',
    'configs/vit/upernet_vit-b16_8xb2-160k_ade20k-512x512.py',
])
def test_real_segmentation_config_on_embedded_ade20k_with_tta(config, data_root, tmp_path):
    root = str(data_root / 'ade20k')
    # Training validates once at its last iteration (the config's single-scale test pipeline, in the same
    # process), then tools/test.py runs the config's multi-scale + flip pipeline on one image.
    # Weights only: ViT-B/16's UPerNet checkpoint is 1.7 GB with AdamW's state, 0.58 GB without.
    options = ['model.backbone.init_cfg=None', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'default_hooks.checkpoint.save_optimizer=False',
               'train_dataloader.batch_size=2', 'model.data_preprocessor.size=(128,128)',
               'train_dataloader.dataset.pipeline.3.crop_size=(128,128)',
               'train_dataloader.dataset.pipeline.2.scale=(320,160)',
               'val_dataloader.dataset.pipeline.1.scale=(320,160)',
               'test_dataloader.dataset.pipeline.1.scale=(320,160)']
    for split, count in (('train', 2), ('val', 2), ('test', 1)):
        options += [f'{split}_dataloader.dataset.data_root={root}', f'{split}_dataloader.dataset.indices={count}',
                    f'{split}_dataloader.num_workers=0', f'{split}_dataloader.persistent_workers=False']
    log, metrics = _train_then_test(config, options, tmp_path, 'iter_2.pth', test_args=['--tta'])
    assert re.search(r'Iter\(val\) \[2/2\].*mIoU: [0-9.]+', log), 'no single-scale validation in the training log'
    assert 'mIoU' in metrics


def test_tools_report_bad_input_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, 'tools/train.py', 'configs/gcvit/no-such-config.py'], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode != 0 and 'does not exist' in result.stderr and 'Traceback' not in result.stderr
    result = subprocess.run([sys.executable, 'tools/test.py', 'configs/gcvit/gcvit-t_8xb128_in1k.py',
                             str(tmp_path / 'missing.pth')], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0 and 'checkpoint' in result.stderr and 'Traceback' not in result.stderr
    result = subprocess.run(['bash', 'tools/dist_train.sh'], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and 'usage' in result.stderr


def test_real_cifar_config_on_embedded_pickles(tmp_path):
    data = tmp_path / 'data'
    subprocess.run([sys.executable, 'tools/misc/make_embedded_data.py', '--out', str(data), '--tasks', 'cifar'],
                   cwd=ROOT, check=True, capture_output=True)
    config = 'configs/vit/vit-b16_in21k-pre_1xb64-accum8-10k_cifar10-224px.py'
    # 64-pixel inputs keep the ViT-B/16 steps short (its position embedding is resized to the 4x4 grid)
    options = ['model.backbone.init_cfg=None', 'model.backbone.img_size=64', 'train_cfg.max_iters=2',
               'train_cfg.val_interval=100', 'train_dataloader.batch_size=2', 'optim_wrapper.accumulative_counts=1',
               'train_dataloader.dataset.pipeline.0.scale=64', 'test_dataloader.dataset.pipeline.0.scale=(64,64)',
               'val_dataloader.dataset.pipeline.0.scale=(64,64)', 'default_hooks.checkpoint.interval=2']
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.type=backbones.LocalCIFAR10',
                    f'{split}_dataloader.dataset.data_root={data / "cifar"}', f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    _, metrics = _train_then_test(config, options, tmp_path, 'iter_2.pth')
    assert 'accuracy/top1' in metrics
