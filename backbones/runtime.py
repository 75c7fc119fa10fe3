"""Runtime adjustments shared by ``tools/train.py`` and ``tools/test.py``.

mmengine assumes CUDA in a few places: ``init_dist`` calls ``torch.cuda.set_device``, DDP is given
``device_ids=[local_rank]``, and the mmseg UPerNet bases use SyncBN, which has no CPU kernel. On a
machine without CUDA :func:`prepare_config` fixes those in the config (GPU runs are left untouched), and
:func:`init_distributed` starts the gloo process group itself so that mmengine skips its own
initialisation.

:class:`WeightsOnlyCheckpointHook`, which :func:`prepare_config` adds to every run, makes the checkpoints
training writes loadable with ``torch.load(weights_only=True)``, so they can be tested, resumed from or
used as ``load_from`` wherever they are copied, without unpickling code.

:class:`EagerOptimizerUpdateHook`, which :func:`prepare_config` adds to runs with ``compile`` set, makes
mmengine's ``compile=True`` train: the runner compiles the whole ``model.train_step``, and dynamo cannot
trace the optimizer update inside it (see the hook).
"""
import json
import math
import numbers
import os
from typing import Any, Mapping

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict

from .checkpoint import restore_history_buffers, to_weights_only, trust_checkpoints_in
from .registry import HOOKS

__all__ = ['prepare_config', 'init_distributed', 'replace_sync_bn', 'write_metrics_json',
           'WeightsOnlyCheckpointHook', 'EagerOptimizerUpdateHook']


@HOOKS.register_module()
class WeightsOnlyCheckpointHook(Hook):
    """Store checkpoints as tensors and plain Python values only, and turn them back on resume.

    mmengine puts its message hub (``HistoryBuffer`` logs of numpy arrays) and whatever numpy values hooks
    left there into every checkpoint; ``torch.load(weights_only=True)`` refuses those. Before saving, they
    become tensors and plain numbers (:func:`backbones.checkpoint.to_weights_only`); after loading, the
    history buffers are rebuilt, so ``--resume`` continues the logs as before.
    """
    priority = 'LOWEST'  # after every hook that adds to the checkpoint

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in [k for k in checkpoint if k != 'state_dict']:  # the weights are tensors already
            checkpoint[key] = to_weights_only(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = restore_history_buffers(checkpoint['message_hub'])


@HOOKS.register_module()
class EagerOptimizerUpdateHook(Hook):
    """Run the optimizer update eagerly when ``compile`` is set: torch.compile captures forward and loss.

    With ``compile=True`` (or a dict of ``torch.compile`` options) mmengine 0.10 compiles
    ``model.train_step``, which ends with ``optim_wrapper.update_params(loss)``: backward, gradient
    clipping, the optimizer step and the step counter that mmengine's parameter schedulers wrap around
    ``optimizer.step``. Dynamo fails on that step: the parameter groups mmengine's optimizer constructor
    builds for a ``paramwise_cfg`` are ``ConfigDict`` objects, and dynamo's optimizer support (torch 2.13,
    which sets ``capturable`` in every group) takes only plain dicts
    (``InternalTorchDynamoError: 'UserDefinedDictVariable' object has no attribute 'items'``). Traced,
    the step would also recompile whenever a scheduler changes the learning rate, a Python float.
    This hook marks each optim wrapper's ``update_params`` with
    ``torch.compiler.disable`` before the first iteration, so dynamo stops its graph there: the data
    preprocessor, forward and loss are compiled (and their backward, by AOT autograd), and the update runs
    as in eager mode. ``tools/train.py`` adds it whenever the config sets ``compile``; with your own
    runner, list ``dict(type='backbones.EagerOptimizerUpdateHook')`` in ``custom_hooks``.
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        wrappers = runner.optim_wrapper
        for wrapper in wrappers.values() if isinstance(wrappers, OptimWrapperDict) else [wrappers]:
            if 'update_params' not in vars(wrapper):  # once, however often train() runs
                wrapper.update_params = torch.compiler.disable(wrapper.update_params)


def replace_sync_bn(node: Any) -> int:
    """Turn every ``type='SyncBN'`` norm config inside ``node`` into ``'BN'``; return how many."""
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += replace_sync_bn(value)
    return count


def _add_hook(cfg: Config, hook_type: str) -> None:
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(isinstance(h, dict) and h.get('type') == hook_type for h in hooks):
        cfg.custom_hooks = hooks + [dict(type=hook_type)]


def prepare_config(cfg: Config, launcher: str) -> Config:
    """Adapt ``cfg`` to this machine: CPU-only runs get BN instead of SyncBN and a gloo DDP wrapper.

    Every run saves weights-only loadable checkpoints (:class:`WeightsOnlyCheckpointHook`); older ones in
    ``cfg.work_dir`` still load for resuming and testing (see
    :func:`backbones.checkpoint.trust_checkpoints_in`). A run with ``compile`` set gets
    :class:`EagerOptimizerUpdateHook`.
    """
    trust_checkpoints_in(cfg.work_dir)
    _add_hook(cfg, 'backbones.WeightsOnlyCheckpointHook')
    if cfg.get('compile'):
        _add_hook(cfg, 'backbones.EagerOptimizerUpdateHook')
    if torch.cuda.is_available():
        return cfg
    replace_sync_bn(cfg.model)
    if cfg.get('tta_model') is not None:
        replace_sync_bn(cfg.tta_model)
    cfg.pop('sync_bn', None)
    if launcher != 'none':
        cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
        wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
        wrapper.update(device_ids=None, broadcast_buffers=False,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
        cfg.model_wrapper_cfg = wrapper
    return cfg


def init_distributed(launcher: str) -> None:
    """Start a gloo process group for ``--launcher pytorch`` on a machine without CUDA.

    With CUDA, mmengine's own initialisation (NCCL, one device per process) runs as usual.
    """
    if launcher == 'none' or torch.cuda.is_available() or dist.is_initialized():
        return
    if launcher != 'pytorch':
        raise RuntimeError(f'--launcher {launcher} needs CUDA on this setup; use torchrun '
                           '(tools/dist_train.sh) for CPU runs')
    dist.init_process_group(backend='gloo', rank=int(os.environ['RANK']),
                            world_size=int(os.environ['WORLD_SIZE']))


def close_distributed() -> None:
    """Destroy the process group at the end of a run (a no-op without one).

    PyTorch asks every process to do so before it exits: a gloo group left to the interpreter's teardown
    can abort a rank that has finished its work (SIGABRT, "terminate called without an active exception"),
    and torchrun then reports the whole run as failed.
    """
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def json_value(value: Any) -> Any:
    """A metric as JSON: numbers (Python, numpy or torch scalars) as numbers, NaN/inf as null, arrays and
    sequences as lists, anything else as text."""
    if hasattr(value, 'tolist'):  # numpy and torch scalars and arrays
        value = value.tolist()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    return str(value)


def write_metrics_json(metrics: Mapping[str, Any], path: str) -> None:
    """Write the metrics of a test to ``path`` as a JSON object of numbers (``tools/test.py --metrics-json``)."""
    with open(path, 'w') as f:
        json.dump({key: json_value(value) for key, value in metrics.items()}, f, indent=1, allow_nan=False)
