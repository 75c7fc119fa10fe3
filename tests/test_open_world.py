"""What users bring: any import order, the toolboxes' own analysis tools, checkpoints that moved, their own
data and config overrides.

* every import order works in a fresh interpreter of this environment (the start-up hook that
  ``tools/setup_env.sh`` installs), and that hook imports nothing at start-up;
* mmdet's, mmseg's and mmpretrain's own ``get_flops.py`` (shipped in their wheels) run on vitzoo configs;
* checkpoints training writes load with ``torch.load(weights_only=True)``; one copied out of its work dir is
  tested with ``tools/dist_test.sh ... 2`` and resumed from; older ones still load from their work dir; a
  file that carries code is refused in one line and its code never runs;
* the user's data and ``--cfg-options`` are checked before any work (``backbones/preflight.py``).
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
import torch

from backbones.checkpoint import UnsafeCheckpointError, restore_history_buffers, to_weights_only, trust_checkpoints_in
from backbones.preflight import InputError, check_data, merge_cfg_options
from contract import ROOT, CodePayload

SITE = sysconfig.get_paths()['purelib']
ANALYSIS_TOOLS = {pkg: os.path.join(SITE, pkg, '.mim', 'tools', 'analysis_tools')
                  for pkg in ('mmdet', 'mmseg', 'mmpretrain')}
CLS_DEMO = 'configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py'
DET_DEMO = 'configs/gcvit/mask-rcnn_gcvit-demo_fpn_embedded-coco.py'
SEG_DEMO = 'configs/gcvit/upernet_gcvit-demo_2xb4_embedded-ade20k.py'
DET_DEFAULT = 'configs/gcvit/mask-rcnn_gcvit-xxt_fpn_1x_coco.py'


def _env():
    # The repository first on the path, as the launchers do; nothing of this process leaks in otherwise.
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')


def _python(code, **kwargs):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          **kwargs)


def _run(args, timeout=900):
    return subprocess.run(args, cwd=ROOT, env=dict(_env(), PYTHON=sys.executable), capture_output=True, text=True,
                          timeout=timeout)


def _one_line_error(result, *needles):
    """The command failed with a single ``error:`` line on stderr, no traceback, naming every needle."""
    assert result.returncode != 0, result.stdout[-2000:]
    assert 'Traceback' not in result.stderr, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if 'error:' in line]
    assert len(lines) == 1, result.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def _cls_options(data_root):
    root = str(data_root / 'imagenet')
    return [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')] + \
        [f'{split}_dataloader.num_workers=0' for split in ('train', 'val', 'test')]


# ------------------------------------------------------------------------------------------ import order
@pytest.mark.parametrize('first, then', [
    ('torchvision', 'timm, mmdet.models, mmseg.models, mmpretrain.models, backbones'),
    ('timm', 'torchvision'),
    ('mmdet.models', 'torchvision'),
])
def test_any_import_order_works_in_a_fresh_interpreter(first, then):
    result = _python(f'''
import sys
import {first}
assert 'backbones' not in sys.modules, 'the fix must not depend on importing backbones'
import {then}
import torch
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30.]])
print(torch.ops.torchvision.nms(boxes, torch.tensor([.9, .8, .7]), 0.5).tolist())
''')
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ['[0,', '2]']


def test_startup_hook_is_installed_and_imports_nothing():
    assert os.path.isfile(os.path.join(SITE, 'vitzoo-torchvision-fix.pth')), \
        'tools/setup_env.sh installs the start-up hook; re-run it'
    result = _python('import sys; print(sorted(m for m in ("torch", "numpy", "torchvision") if m in sys.modules), '
                     'any(type(f).__name__ == "TorchvisionFixFinder" for f in sys.meta_path))')
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '[] True'


def test_hook_leaves_a_working_torchvision_alone():
    # A torchvision whose library loaded has the nms operator when its import reaches the hook: simulate that
    # by defining it first; the hook must then define nothing.
    result = _python('''
import torch
library = torch.library.Library('torchvision', 'DEF')
library.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
library.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
import torchvision, vitzoo_torchvision_fix
print(vitzoo_torchvision_fix.ops_patched())
''')
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == 'False'
    result = _python('import torchvision, vitzoo_torchvision_fix; print(vitzoo_torchvision_fix.ops_patched())')
    assert result.stdout.strip() == 'True', result.stderr[-3000:]  # this CPU-only torch needs the fix


# ------------------------------------------------------------------------------------------ analysis tools
def _flops(result):
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    match = re.search(r'Flops:\s*([\d.]+)\s*([KMGT]?)', result.stdout)
    assert match, result.stdout[-2000:]
    return float(match.group(1))


def test_toolbox_get_flops_on_a_classifier():
    result = _run([sys.executable, os.path.join(ANALYSIS_TOOLS['mmpretrain'], 'get_flops.py'), CLS_DEMO,
                   '--shape', '32', '32'])
    assert _flops(result) > 0


def test_toolbox_get_flops_on_a_segmentor():
    result = _run([sys.executable, os.path.join(ANALYSIS_TOOLS['mmseg'], 'get_flops.py'), SEG_DEMO, '--shape',
                   '160', '160', '--cfg-options', 'model.backbone.init_cfg=None'])
    assert _flops(result) > 0


def test_toolbox_get_flops_on_a_detector(data_root):
    root = str(data_root / 'coco') + '/'
    result = _run([sys.executable, os.path.join(ANALYSIS_TOOLS['mmdet'], 'get_flops.py'), DET_DEMO,
                   '--num-images', '2', '--cfg-options', 'model.backbone.init_cfg=None',
                   f'val_dataloader.dataset.data_root={root}', 'val_dataloader.num_workers=0',
                   'val_dataloader.persistent_workers=False'])
    assert _flops(result) > 0


# ------------------------------------------------------------------------------------------ checkpoints
def _message_hub_state():
    from mmengine.logging import MessageHub
    hub = MessageHub(f'open-world-{id(object())}')
    for i in range(3):
        hub.update_scalar('train/loss', np.float64(1.0 / (i + 1)))
        hub.update_scalar('train/lr', 0.1 * i)
    hub.update_info('best_score', np.float32(0.5))
    hub.update_info('dtype', np.dtype('float32'))
    return hub.state_dict()


def test_training_state_round_trips_through_weights_only_loading(tmp_path):
    from mmengine.logging import HistoryBuffer
    state = _message_hub_state()
    checkpoint = {'meta': {'epoch': 1, 'dataset_meta': {'classes': ('a', 'b')}}, 'message_hub': state}
    path = tmp_path / 'epoch_1.pth'
    with pytest.raises(Exception):  # what mmengine saves by itself is refused
        torch.save(checkpoint, path)
        torch.load(path, weights_only=True)
    torch.save(to_weights_only(checkpoint), path)
    loaded = torch.load(path, weights_only=True)  # plain torch: no allow-list needed
    hub = restore_history_buffers(loaded['message_hub'])
    buffer = hub['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer.data[0], state['log_scalars']['train/loss'].data[0])
    assert buffer.mean() == pytest.approx(state['log_scalars']['train/loss'].mean())
    buffer.update(0.25)  # numpy-backed again: mmengine keeps logging into it
    assert hub['runtime_info']['best_score'] == 0.5 and hub['runtime_info']['dtype'] == 'float32'
    assert loaded['meta']['dataset_meta']['classes'] == ('a', 'b')


def test_old_checkpoints_load_only_in_their_work_dir_and_code_never_runs(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    work_dir, elsewhere = tmp_path / 'work', tmp_path / 'elsewhere'
    work_dir.mkdir(), elsewhere.mkdir()
    legacy = {'state_dict': {'w': torch.ones(1)}, 'message_hub': _message_hub_state()}
    torch.save(legacy, work_dir / 'epoch_1.pth')
    torch.save(legacy, elsewhere / 'epoch_1.pth')
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': CodePayload(marker)}, work_dir / 'epoch_2.pth')
    trust_checkpoints_in(str(work_dir))
    loaded = CheckpointLoader.load_checkpoint(str(work_dir / 'epoch_1.pth'), map_location='cpu')
    assert len(loaded['message_hub']['log_scalars']['train/loss'].data[0]) == 3
    with pytest.raises(UnsafeCheckpointError, match='--trust-checkpoint') as err:
        CheckpointLoader.load_checkpoint(str(elsewhere / 'epoch_1.pth'), map_location='cpu')
    assert '\n' not in str(err.value)
    # inside the trusted work dir too: a global that is not numpy's or mmengine's is never unpickled
    with pytest.raises(UnsafeCheckpointError, match='posix.system|os.system'):
        CheckpointLoader.load_checkpoint(str(work_dir / 'epoch_2.pth'), map_location='cpu')
    assert not marker.exists()


def test_code_carrying_checkpoint_refused_by_test_py_in_one_line(data_root, tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': {}, 'x': CodePayload(marker)}, evil)
    result = _run([sys.executable, 'tools/test.py', CLS_DEMO, str(evil), '--work-dir', str(tmp_path / 'work'),
                   '--cfg-options', *_cls_options(data_root)])
    _one_line_error(result, 'refusing evil.pth')
    assert not marker.exists()


@pytest.mark.slow
def test_trained_checkpoint_copied_elsewhere_tests_with_two_processes_and_resumes(data_root, tmp_path):
    options = _cls_options(data_root) + ['train_cfg.max_epochs=1']
    work_dir = tmp_path / 'work'
    result = _run([sys.executable, 'tools/train.py', CLS_DEMO, '--work-dir', str(work_dir), '--cfg-options',
                   *options])
    assert result.returncode == 0, result.stderr[-3000:]
    moved = tmp_path / 'elsewhere' / 'gcvit-demo.pth'
    moved.parent.mkdir()
    shutil.copy(work_dir / 'epoch_1.pth', moved)
    shutil.rmtree(work_dir)
    checkpoint = torch.load(moved, weights_only=True)  # plain torch, no allow-list
    assert checkpoint['meta']['epoch'] == 1 and 'train/loss' in checkpoint['message_hub']['log_scalars']

    metrics = tmp_path / 'metrics.json'
    result = _run(['bash', 'tools/dist_test.sh', CLS_DEMO, str(moved), '2', '--work-dir', str(tmp_path / 'test'),
                   '--metrics-json', str(metrics), '--cfg-options', *options])
    assert result.returncode == 0, result.stderr[-3000:]
    assert 0 <= json.loads(metrics.read_text())['accuracy/top1'] <= 100

    result = _run([sys.executable, 'tools/train.py', CLS_DEMO, '--work-dir', str(tmp_path / 'resumed'), '--resume',
                   str(moved), '--cfg-options', *_cls_options(data_root), 'train_cfg.max_epochs=2'])
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert 'resumed epoch: 1' in log and 'is not HistoryBuffer' not in log
    assert re.search(r'Epoch\(train\)\s+\[2\]\[', log) and not re.search(r'Epoch\(train\)\s+\[1\]\[', log)


# ------------------------------------------------------------------------------------------ user data
def _det_cfg(data_root, ann_name='instances_train2017.json'):
    from mmengine.config import Config
    cfg = Config.fromfile(os.path.join(ROOT, DET_DEFAULT))
    root = str(data_root / 'coco') + '/'
    merge_cfg_options(cfg, {f'{s}_dataloader.dataset.data_root': root for s in ('train', 'val', 'test')})
    merge_cfg_options(cfg, {'train_dataloader.dataset.ann_file': f'annotations/{ann_name}'})
    return cfg


def _digits(cfg):
    """The embedded COCO's ten digit classes in the data loaders and heads, as the README's recipe says."""
    digits = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
    merge_cfg_options(cfg, {f'{s}_dataloader.dataset.metainfo.classes': digits for s in ('train', 'val', 'test')})
    merge_cfg_options(cfg, {f'model.roi_head.{head}.num_classes': 10 for head in ('bbox_head', 'mask_head')})
    return cfg


def _subset_annotations(data_root, names=('zero', 'one', 'two')):
    """A COCO file with only three of the digit categories (and their annotations)."""
    src = data_root / 'coco' / 'annotations' / 'instances_train2017.json'
    coco = json.loads(src.read_text())
    keep = {c['id'] for c in coco['categories'] if c['name'] in names}
    coco['categories'] = [c for c in coco['categories'] if c['id'] in keep]
    coco['annotations'] = [a for a in coco['annotations'] if a['category_id'] in keep]
    (src.parent / 'subset3.json').write_text(json.dumps(coco))
    return 'subset3.json'


def test_class_mismatch_names_file_metainfo_and_heads(data_root):
    cfg = _det_cfg(data_root, _subset_annotations(data_root))
    with pytest.raises(InputError) as err:
        check_data(cfg, ('train', ))
    message = str(err.value)
    assert 'subset3.json has 3 categories (zero, one, two)' in message
    assert 'has 80 (person, bicycle' in message and 'CocoDataset default' in message
    assert 'roi_head.bbox_head=80' in message and 'roi_head.mask_head=80' in message
    assert 'README.md' in message and '\n' not in message
    # made consistent as the message says: no complaint
    digits = ('zero', 'one', 'two')
    merge_cfg_options(cfg, {'train_dataloader.dataset.metainfo.classes': digits,
                            'model.roi_head.bbox_head.num_classes': 3, 'model.roi_head.mask_head.num_classes': 3})
    check_data(cfg, ('train', ))
    # heads left at 80 with the right classes: still refused
    merge_cfg_options(cfg, {'model.roi_head.mask_head.num_classes': 80})
    with pytest.raises(InputError, match='roi_head.mask_head=80'):
        check_data(cfg, ('train', ))


def test_class_mismatch_stops_train_py_before_training(data_root, tmp_path):
    ann = _subset_annotations(data_root)
    root = str(data_root / 'coco') + '/'
    options = [f'{s}_dataloader.dataset.data_root={root}' for s in ('train', 'val', 'test')]
    work_dir = tmp_path / 'work'
    result = _run([sys.executable, 'tools/train.py', DET_DEFAULT, '--work-dir', str(work_dir), '--cfg-options',
                   *options, f'train_dataloader.dataset.ann_file=annotations/{ann}'])
    _one_line_error(result, 'classes disagree', 'has 3 categories', 'has 80', 'roi_head.bbox_head=80', 'README.md')
    assert not work_dir.exists()  # no runner was built


def test_first_minute_mistakes_each_give_one_line(data_root, tmp_path):
    cfg = _digits(_det_cfg(data_root))
    check_data(cfg, ('train', 'val', 'test'))  # consistent: no complaint
    bad = copy.deepcopy(cfg)
    merge_cfg_options(bad, {'train_dataloader.dataset.data_root': str(tmp_path / 'no-such-dir')})
    with pytest.raises(InputError, match=r'train_dataloader.dataset.data_root=.*no-such-dir does not exist'):
        check_data(bad, ('train', ))
    empty = tmp_path / 'coco'
    (empty / 'annotations').mkdir(parents=True)
    (empty / 'train2017').mkdir()
    shutil.copy(data_root / 'coco' / 'annotations' / 'instances_train2017.json', empty / 'annotations')
    merge_cfg_options(bad, {'train_dataloader.dataset.data_root': str(empty) + '/'})
    with pytest.raises(InputError, match=r'data_prefix.img: image folder .*train2017/ is empty'):
        check_data(bad, ('train', ))
    merge_cfg_options(bad, {'train_dataloader.dataset.ann_file': 'annotations/missing.json'})
    with pytest.raises(InputError, match='missing.json does not exist'):
        check_data(bad, ('train', ))

    for key, suggestion in (('train_cfg.max_epoch', 'train_cfg.max_epochs'),
                            ('model.bakcbone.drop_path_rate', 'model.backbone'),
                            ('model.roi_head.bbox_head.num_clases', 'model.roi_head.bbox_head.num_classes')):
        with pytest.raises(InputError, match=f'did you mean {re.escape(suggestion)}?'):
            merge_cfg_options(copy.deepcopy(cfg), {key: 1})
    with pytest.raises(InputError, match='is a list of'):
        merge_cfg_options(copy.deepcopy(cfg), {'train_dataloader.dataset.pipeline.9.scale': (1, 1)})
    # new keys are legitimate; a None value given sub-keys becomes a dict
    merge_cfg_options(cfg, {'train_dataloader.dataset.indices': 2, 'model.backbone.init_cfg': None})
    merge_cfg_options(cfg, {'model.backbone.init_cfg.type': 'Pretrained', 'model.backbone.init_cfg.checkpoint': 'x'})
    assert cfg.train_dataloader.dataset.indices == 2
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='x', prefix='backbone.') or \
        cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='x')


def test_first_minute_mistakes_through_the_tools(tmp_path):
    result = _run([sys.executable, 'tools/train.py', CLS_DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                   'train_cfg.max_epoch=1'])
    _one_line_error(result, 'train_cfg.max_epoch', 'did you mean train_cfg.max_epochs?')
    result = _run([sys.executable, 'tools/train.py', CLS_DEMO, '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                   f'train_dataloader.dataset.data_root={tmp_path / "nowhere"}'])
    _one_line_error(result, 'nowhere does not exist', '--cfg-options train_dataloader.dataset.data_root=DIR')
