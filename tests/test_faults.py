"""Runs that survive faults (backbones/fault_tolerance.py): no orphan ranks, one run per work dir, atomic
checkpoints, resume past a damaged file, quiet interrupts; inputs checked at the door; numeric metrics."""
import contextlib
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from backbones.fault_tolerance import (CheckpointSaveError, WorkDirLock, checkpoint_problem, choose_resume_checkpoint,
                                       write_atomically)
from backbones.runtime import write_metrics_json
from contract import ROOT, build_backbone

TINY_BACKBONES = {
    'GCViT': dict(type='backbones.GCViT', arch=dict(embed_dims=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 2, 4),
                                                    mlp_ratio=2.)),
    'DaViT': dict(type='backbones.DaViT', arch=dict(embed_dims=(16, 32, 32, 64), depths=(1, 1, 1, 1),
                                                    num_heads=(1, 2, 2, 4))),
    'GroupMixFormer': dict(type='backbones.GroupMixFormer', arch=dict(embed_dims=(20, 40, 40, 80), depths=(1, 1, 1, 1),
                                                                      mlp_ratios=(2, 2, 2, 2))),
    'ViT': dict(type='backbones.ViT', arch=dict(embed_dims=32, depth=2, num_heads=2, mlp_dims=64, patch_size=16),
                img_size=64),
}
BAD_SHAPES = [(3, 64, 64), (2, 1, 64, 64), (2, 3, 16, 16), (1, 3, 64, 31), (1, 1, 3, 64, 64)]


@pytest.mark.parametrize('family', sorted(TINY_BACKBONES))
def test_bad_input_shapes_are_refused_in_one_line_in_every_family(family):
    model = build_backbone(TINY_BACKBONES[family]).eval()
    for shape in BAD_SHAPES:
        with pytest.raises(ValueError) as info:
            with torch.no_grad():
                model(torch.randn(shape))
        message = str(info.value)
        assert '\n' not in message and message == (
            f'{family}: expected images of shape (B, 3, H, W) with H, W >= 32, got {shape}'), message
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 32, 45))  # the smallest size, and any other above it, still runs
    assert all(torch.isfinite(o).all() for o in outs)


def test_input_check_keeps_torch_compile_fullgraph():
    model = build_backbone(TINY_BACKBONES['DaViT']).eval()
    compiled = torch.compile(model, fullgraph=True, backend='eager')  # dynamo tracing only: no graph break
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        for ours, reference in zip(compiled(x), model(x)):
            torch.testing.assert_close(ours, reference)
        # dynamo reports the refusal as an exception of its own that carries the same message
        with pytest.raises(Exception, match=r'DaViT: expected images of shape \(B, 3, H, W\) with H, W >= 32'):
            compiled(torch.randn(1, 3, 16, 16))


# ------------------------------------------------------------------------------------ atomic checkpoints
def test_failed_write_keeps_the_previous_file_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    torch.save({'w': torch.ones(3)}, path)
    before = path.read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, 'fsync', disk_full)  # the data went out but never reached the disk
    with pytest.raises(CheckpointSaveError, match=r'could not write .*epoch_1.pth \(No space left on device\)'):
        write_atomically(str(path), b'half a checkpoint')
    assert path.read_bytes() == before and os.listdir(tmp_path) == ['epoch_1.pth']
    monkeypatch.undo()
    write_atomically(str(path), b'new')
    assert path.read_bytes() == b'new' and os.listdir(tmp_path) == ['epoch_1.pth']


def test_checkpoint_problem_finds_truncated_and_corrupt_files(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'w': torch.arange(100000.)}, good)
    assert checkpoint_problem(str(good)) is None
    data = good.read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    assert 'truncated' in checkpoint_problem(str(tmp_path / 'cut.pth'))
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xff  # inside the tensor data: only the CRC notices
    (tmp_path / 'flip.pth').write_bytes(bytes(corrupt))
    assert checkpoint_problem(str(tmp_path / 'flip.pth')).startswith('damaged member')
    assert checkpoint_problem(str(tmp_path / 'missing.pth')) == 'it does not exist'


def test_auto_resume_skips_damaged_checkpoints_newest_first(tmp_path, capsys):
    from mmengine.config import Config
    for epoch in (1, 2, 3):
        torch.save({'epoch': epoch}, tmp_path / f'epoch_{epoch}.pth')
    (tmp_path / 'epoch_3.pth').write_bytes((tmp_path / 'epoch_3.pth').read_bytes()[:100])
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    cfg = Config(dict(resume=True, load_from=None, work_dir=str(tmp_path)))
    choose_resume_checkpoint(cfg)
    assert cfg.load_from == str(tmp_path / 'epoch_2.pth')
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and f'{tmp_path / "epoch_3.pth"} is unreadable' in err and 'epoch_2.pth' in err
    # an explicit checkpoint that is damaged is refused with its path
    cfg = Config(dict(resume=True, load_from=str(tmp_path / 'epoch_3.pth'), work_dir=str(tmp_path)))
    with pytest.raises(SystemExit) as info:
        choose_resume_checkpoint(cfg)
    assert info.value.code == 2 and f'cannot resume from {tmp_path / "epoch_3.pth"}' in capsys.readouterr().err


# ---------------------------------------------------------------------------------- one run per work dir
def test_work_dir_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path, capsys):
    holder = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        record = dict(pid=holder.pid, host=os.uname().nodename, started=None, command='train.py other')
        (tmp_path / '.vitzoo-run.lock').write_text(json.dumps(record))
        with pytest.raises(SystemExit) as info:
            WorkDirLock(str(tmp_path)).acquire()
        err = capsys.readouterr().err.strip()
        assert info.value.code == 2 and '\n' not in err and f'in use by a live run (PID {holder.pid}' in err
    finally:
        holder.kill()
        holder.wait()
    lock = WorkDirLock(str(tmp_path))
    lock.acquire()  # the holder is gone now
    assert f'taking over {tmp_path} from a run that is gone (PID {holder.pid}' in capsys.readouterr().err
    assert lock.read()['pid'] == os.getpid()
    lock.release()
    assert not (tmp_path / '.vitzoo-run.lock').exists()


# -------------------------------------------------------------------------------------------- metrics
def test_metrics_json_holds_numbers(tmp_path):
    path = tmp_path / 'm.json'
    write_metrics_json({'mIoU': np.float32(48.25), 'aAcc': np.float64(90.5), 'top1': torch.tensor(75.),
                        'count': np.int64(3), 'per_class': np.array([1.5, np.nan]), 'empty': float('nan'),
                        'note': 'x'}, str(path))
    result = json.loads(path.read_text())
    assert result == {'mIoU': 48.25, 'aAcc': 90.5, 'top1': 75.0, 'count': 3, 'per_class': [1.5, None],
                      'empty': None, 'note': 'x'}
    assert isinstance(result['mIoU'], float) and isinstance(result['count'], int)


def test_readme_recipe_gives_the_data_sets_classes(data_root):
    """The README's recipe for the embedded ADE20K sets the 11 classes (not ADE20K's 150) in every split."""
    readme = open(os.path.join(ROOT, 'README.md')).read()
    block = readme[readme.index('CLASSES="'):]
    block = block[:block.index('```')]
    classes = re.search(r'CLASSES="(.*)"', block).group(1)
    assert 'model.decode_head.num_classes=11' in block and 'model.auxiliary_head.num_classes=11' in block
    keys = re.search(r'printf "\$\{split\}_dataloader.dataset.%s " (.*?); done', block, re.S).group(1)
    values = [v.strip('"').replace('$CLASSES', classes) for v in keys.replace('\\\n', ' ').split()]
    from mmengine.config import Config, DictAction
    options = {}
    for split in ('train', 'val', 'test'):
        for value in values:
            key, val = value.split('=', 1)
            options[f'{split}_dataloader.dataset.{key}'] = DictAction._parse_iterable(val)
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/gcvit/upernet_gcvit-xxt_8xb2-160k_ade20k-512x512.py'))
    cfg.merge_from_dict(options)
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    for split in ('train', 'val', 'test'):
        dataset_cfg = cfg[f'{split}_dataloader'].dataset
        dataset_cfg.data_root = str(data_root / 'ade20k')
        dataset = DATASETS.build(dataset_cfg)
        assert dataset.metainfo['classes'][:2] == ('background', 'zero') and len(dataset.metainfo['classes']) == 11
        assert len(dataset.metainfo['palette']) == 11 and len(dataset) > 0


# ------------------------------------------------------------------------------------- end-to-end runs
DEMO = 'configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py'


@pytest.fixture(scope='module')
def imagenet_root(data_root):
    return str(data_root / 'imagenet')


def _options(root, epochs, train_images=32):
    """The demo run cut to 2 iterations per epoch, a checkpoint every epoch and all of them kept."""
    return [f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=100', 'default_hooks.checkpoint.interval=1',
            'default_hooks.checkpoint.max_keep_ckpts=-1', 'default_hooks.logger.interval=1',
            f'train_dataloader.dataset.indices={train_images}', 'train_dataloader.batch_size=16',
            'train_dataloader.num_workers=0'] + [
                f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]


def _train(args, work_dir, **popen):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, 'tools/train.py', DEMO, '--work-dir', str(work_dir), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, **popen)


@pytest.fixture(scope='module')
def trained_work_dir(imagenet_root, tmp_path_factory):
    """One demo run of 3 epochs, a checkpoint each, that the tests below copy and then damage."""
    work_dir = tmp_path_factory.mktemp('trained') / 'work'
    result = _train(['--cfg-options', *_options(imagenet_root, 3)], work_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return work_dir


def _copy_of_run(trained, work_dir, epochs):
    """``trained`` copied to ``work_dir`` as if it had stopped after ``epochs``: later checkpoints left out,
    ``last_checkpoint`` pointing at the copy's."""
    later = {f'epoch_{epoch}.pth' for epoch in range(epochs + 1, 100)}
    shutil.copytree(trained, work_dir, ignore=lambda folder, names: [n for n in names if n in later])
    (work_dir / 'last_checkpoint').write_text(str(work_dir / f'epoch_{epochs}.pth'))


def _meta(path):
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    return checkpoint['meta'], checkpoint['optimizer']['param_groups'][0]['lr'], checkpoint['param_schedulers']


@pytest.mark.slow
def test_resume_skips_a_truncated_latest_checkpoint_and_continues_exactly(imagenet_root, trained_work_dir,
                                                                          tmp_path):
    work_dir = tmp_path / 'work'
    _copy_of_run(trained_work_dir, work_dir, 3)
    reference = _meta(work_dir / 'epoch_3.pth')
    latest = work_dir / 'epoch_3.pth'
    latest.write_bytes(latest.read_bytes()[:latest.stat().st_size // 2])  # a kill during a plain write
    result = _train(['--resume', '--cfg-options', *_options(imagenet_root, 3)], work_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    warning = [line for line in result.stderr.splitlines() if 'unreadable' in line]
    assert len(warning) == 1 and str(latest) in warning[0] and str(work_dir / 'epoch_2.pth') in warning[0]
    assert 'resumed epoch: 2, iter: 4' in result.stdout + result.stderr
    meta, lr, schedulers = _meta(latest)
    assert (meta['epoch'], meta['iter']) == (3, 6) == (reference[0]['epoch'], reference[0]['iter'])
    assert lr == reference[1] and schedulers == reference[2]  # the lr schedule continued exactly


def _limit_file_size(limit):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.slow
def test_a_save_that_fails_midway_keeps_the_previous_checkpoint(imagenet_root, trained_work_dir, tmp_path):
    work_dir = tmp_path / 'work'
    _copy_of_run(trained_work_dir, work_dir, 1)  # a run of 1 epoch
    previous = work_dir / 'epoch_1.pth'
    pointer = (work_dir / 'last_checkpoint').read_text()
    # The next save stops half-way, as on a full disk: files cannot grow past half a checkpoint.
    result = _train(['--resume', '--cfg-options', *_options(imagenet_root, 2)], work_dir,
                    preexec_fn=_limit_file_size(previous.stat().st_size // 2))
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if 'error' in line]
    assert len(errors) == 1 and f'could not write {work_dir / "epoch_2.pth"} (File too large)' in errors[0]
    assert str(previous) in errors[0] and 'Traceback' not in result.stderr
    assert checkpoint_problem(str(previous)) is None and (work_dir / 'last_checkpoint').read_text() == pointer
    assert not (work_dir / 'epoch_2.pth').exists() and not [n for n in os.listdir(work_dir) if n.endswith('.tmp')]
    assert not (work_dir / '.vitzoo-run.lock').exists()


def _children(pid):
    """PIDs of the live (non-zombie) children of ``pid``."""
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != 'Z':
                found.append(int(entry))
    return found


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


@contextlib.contextmanager
def _dist_train(root, work_dir, log):
    """A 2-process ``dist_train.sh`` run, yielded once both ranks train: ``(launcher, rank PIDs)``; any rank
    still alive at the end is killed."""
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    launcher = subprocess.Popen(['bash', 'tools/dist_train.sh', DEMO, '2', '--work-dir', str(work_dir), '--cfg-options',
                                 *_options(root, 50, train_images=600)], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 240
    while 'Epoch(train)' not in open(log.name).read():  # both ranks are past their start-up
        assert launcher.poll() is None and time.time() < deadline, open(log.name).read()[-3000:]
        time.sleep(1)
    ranks = _children(launcher.pid)
    try:
        assert len(ranks) == 2, ranks
        yield launcher, ranks
    finally:
        for pid in ranks:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_kill_9_of_the_launcher_leaves_no_rank_and_a_second_run_is_refused(imagenet_root, tmp_path):
    work_dir = tmp_path / 'work'
    with open(tmp_path / 'train.log', 'w') as log, _dist_train(imagenet_root, work_dir, log) as (launcher, ranks):
        holder = json.loads((work_dir / '.vitzoo-run.lock').read_text())['pid']
        assert holder in ranks
        second = _train(['--cfg-options', *_options(imagenet_root, 1)], work_dir, timeout=120)
        assert second.returncode == 2 and 'Traceback' not in second.stderr
        reports = [line for line in second.stderr.splitlines() if line.startswith('train.py')]
        assert len(reports) == 1 and f'in use by a live run (PID {holder} ' in reports[0], second.stderr[-2000:]
        os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
        deadline = time.time() + 5
        while any(map(_alive, ranks)) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(map(_alive, ranks)), 'ranks outlived their launcher'


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_ctrl_c_ends_every_rank_with_one_line(imagenet_root, tmp_path):
    work_dir = tmp_path / 'work'
    with open(tmp_path / 'train.log', 'w') as log, _dist_train(imagenet_root, work_dir, log) as (launcher, ranks):
        before = len(open(log.name).read())
        os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        assert launcher.wait(timeout=60) == 128 + signal.SIGINT
        assert not any(map(_alive, ranks))
    tail = [line for line in open(log.name).read()[before:].splitlines() if not re.search(r'Epoch\(train\)', line)]
    # (torch prefixes what a rank writes to stderr with its rank)
    assert len(tail) == 1 and re.match(r'(\[rank0\]: )?train.py: interrupted; ', tail[0]), tail
    assert 'Traceback' not in open(log.name).read()
