"""Safe checkpoint loading, trusted work dirs, the torchvision shim and the CPU runtime adjustments."""
import argparse
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config

from backbones.checkpoint import (UnsafeCheckpointError, find_state_dict, load_weights_file, strip_prefix,
                                  trust_checkpoints_in)
from backbones.runtime import prepare_config, replace_sync_bn
from contract import ROOT, CodePayload, build_backbone


def test_pth_with_code_is_refused_in_one_line(tmp_path):
    path = tmp_path / 'evil.pth'
    marker = tmp_path / 'code-ran'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': CodePayload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_weights_file(str(path))
    message = str(info.value)
    assert '\n' not in message and message.startswith('refusing evil.pth') and 'posix.system' in message
    assert not marker.exists()


def test_npz_with_object_arrays_is_refused(tmp_path):
    path = tmp_path / 'evil.npz'
    np.savez(path, good=np.ones(3, np.float32), bad=np.array([{'a': 1}], dtype=object))
    with pytest.raises(UnsafeCheckpointError, match='refusing evil.npz'):
        load_weights_file(str(path))


def test_plain_formats_load(tmp_path):
    from safetensors.torch import save_file
    weights = {'a.weight': torch.randn(2, 3), 'b': torch.arange(4)}
    save_file(weights, str(tmp_path / 'w.safetensors'))
    np.savez(tmp_path / 'w.npz', **{k: v.numpy() for k, v in weights.items()})
    # timm's saver stores the run's argparse.Namespace beside the weights: a data holder, allowed.
    torch.save({'state_dict': weights, 'args': argparse.Namespace(lr=0.1, model='x'), 'epoch': 3}, tmp_path / 'w.pth')
    for name in ('w.safetensors', 'w.npz', 'w.pth'):
        loaded = find_state_dict(load_weights_file(str(tmp_path / name)))
        assert set(loaded) == set(weights)
        np.testing.assert_array_equal(np.asarray(loaded['a.weight']), weights['a.weight'].numpy())
    with pytest.raises(FileNotFoundError):
        load_weights_file(str(tmp_path / 'missing.pth'))
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    with pytest.raises(UnsafeCheckpointError, match='junk.pth'):
        load_weights_file(str(tmp_path / 'junk.pth'))


def test_strip_prefix_keeps_bare_backbones():
    sd = {'backbone.x': 1, 'head.fc.w': 2}
    assert strip_prefix(sd, 'backbone.') == {'x': 1}
    assert strip_prefix({'x': 1}, 'backbone.') == {'x': 1}


def test_mmengine_loader_trusts_only_the_work_dir(tmp_path):
    from mmengine.runner.checkpoint import CheckpointLoader
    work_dir, elsewhere = tmp_path / 'work', tmp_path / 'elsewhere'
    work_dir.mkdir(), elsewhere.mkdir()
    state = {'state_dict': {'w': torch.ones(1)}, 'message_hub': {'np': np.float64(1.5)}}
    torch.save(state, work_dir / 'epoch_1.pth')
    torch.save(state, elsewhere / 'epoch_1.pth')
    trust_checkpoints_in(str(work_dir))
    loaded = CheckpointLoader.load_checkpoint(str(work_dir / 'epoch_1.pth'), map_location='cpu')
    assert loaded['message_hub']['np'] == 1.5
    with pytest.raises(UnsafeCheckpointError, match='--trust-checkpoint'):
        CheckpointLoader.load_checkpoint(str(elsewhere / 'epoch_1.pth'), map_location='cpu')


def test_pretrained_init_refuses_code_and_reports_mismatch(tmp_path):
    evil = tmp_path / 'evil.pth'
    marker = tmp_path / 'code-ran'
    torch.save({'state_dict': {'patch_embed.proj.weight': torch.ones(1)}, 'x': CodePayload(marker)}, evil)
    arch = dict(embed_dims=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), mlp_ratio=2.)
    model = build_backbone(dict(type='backbones.GCViT', arch=arch,
                                init_cfg=dict(type='Pretrained', checkpoint=str(evil), prefix='backbone.')))
    with pytest.raises(UnsafeCheckpointError):
        model.init_weights()
    assert not marker.exists()
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.patch_embed.proj.weight': torch.ones(8, 3, 3, 3)}}, other)
    model = build_backbone(dict(type='backbones.GCViT', arch=arch,
                                init_cfg=dict(type='Pretrained', checkpoint=str(other), prefix='backbone.')))
    with pytest.raises(ValueError, match=r'does not fit this arch.*patch_embed.proj.weight'):
        model.init_weights()


def test_torchvision_imports_and_its_nms_schema_works():
    import torchvision  # noqa: F401  (fails without backbones/_compat.py on a CPU-only torch)
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30.], [0, 0, 9, 10]])
    scores = torch.tensor([.9, .8, .7, .95])
    keep = torch.ops.torchvision.nms(boxes, scores, 0.5)
    from mmcv.ops import nms as mmcv_nms
    _, mmcv_keep = mmcv_nms(boxes, scores, 0.5)
    assert keep.tolist() == mmcv_keep.tolist() == [3, 2]


def test_sync_bn_becomes_bn_on_cpu_and_ddp_gets_no_device_ids(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/gcvit/upernet_gcvit-t_8xb2-160k_ade20k-512x512.py'))
    assert cfg.model.decode_head.norm_cfg.type == 'SyncBN'
    assert replace_sync_bn(Config(dict(a=[dict(type='SyncBN')], b=dict(c=dict(type='SyncBN'))))._cfg_dict) == 2
    if torch.cuda.is_available():
        pytest.skip('the CPU adjustments apply only without CUDA')
    cfg.work_dir = str(tmp_path)
    prepare_config(cfg, launcher='pytorch')
    assert cfg.model.decode_head.norm_cfg.type == 'BN' and cfg.model.auxiliary_head.norm_cfg.type == 'BN'
    assert cfg.model_wrapper_cfg.device_ids is None and cfg.env_cfg.dist_cfg.backend == 'gloo'


def test_the_process_group_is_closed_at_the_end_of_a_run():
    """tools/train.py and tools/test.py close the group they opened: a gloo group left to the interpreter's
    teardown can abort a finished rank (SIGABRT) and fail the whole torchrun. Runs in a child process, a
    one-rank group, so that pytest's own process keeps no group."""
    if torch.cuda.is_available():
        pytest.skip('init_distributed leaves CUDA runs to mmengine')
    script = '\n'.join([
        'import torch.distributed as dist',
        'from backbones.runtime import close_distributed, init_distributed',
        'close_distributed()  # no group yet: nothing to do',
        "init_distributed('pytorch')",
        'assert dist.is_initialized() and dist.get_backend() == "gloo"',
        'close_distributed()',
        'assert not dist.is_initialized()',
        "print('closed')",
    ])
    with socket.socket() as free:
        free.bind(('127.0.0.1', 0))
        port = free.getsockname()[1]
    env = dict(os.environ, RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    result = subprocess.run([sys.executable, '-c', script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == 'closed', result.stderr[-2000:]
