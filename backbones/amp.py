"""Mixed precision for ``--amp`` in ``tools/train.py`` and ``tools/test.py``, on a GPU and on a CPU.

With CUDA, ``--amp`` is mmengine's own path, unchanged: :class:`mmengine.optim.AmpOptimWrapper` (float16
autocast and a dynamic loss scale) for training and the test loop's ``fp16`` flag for testing.

mmengine's ``AmpOptimWrapper`` refuses to start without a GPU (its loss scaler is CUDA's). A CPU has no
fast float16 but a fast bfloat16 (AMX / AVX512-BF16 matrix units), and bfloat16 has float32's exponent
range, so gradients cannot underflow and need no loss scale: :class:`AutocastOptimWrapper` runs the
forward pass and the loss under ``autocast(dtype=bfloat16)`` and is otherwise the plain ``OptimWrapper``
(float32 weights, gradients and AdamW state). Testing uses the test loop's ``fp16`` flag, which on a CPU
autocasts to ``torch.get_autocast_dtype('cpu')``, bfloat16.

How attention stays finite under float16 autocast (GPU) is described in :func:`backbones.layers.attention`.
"""
from contextlib import contextmanager
from typing import Union

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from .registry import OPTIM_WRAPPERS

__all__ = ['AutocastOptimWrapper', 'enable_amp']


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward and loss run under bfloat16 autocast, without loss scaling.

    Use it as ``optim_wrapper = dict(type='backbones.AutocastOptimWrapper', optimizer=...)``; every
    other ``OptimWrapper`` argument (``clip_grad``, ``accumulative_counts``, constructors and
    ``paramwise_cfg``) works as usual. Autocast runs on the runner's device (mmengine's ``get_device``).

    Args:
        dtype (str | torch.dtype): the autocast dtype; only ``'bfloat16'``, since float16 needs the loss
            scale of ``AmpOptimWrapper``.
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs):
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'AutocastOptimWrapper: dtype={dtype!r} is not supported; use bfloat16 '
                             '(float16 needs loss scaling: type=AmpOptimWrapper on a GPU)')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), autocast(dtype=self.cast_dtype, cache_enabled=False):
            yield


def enable_amp(cfg: Config, training: bool) -> str:
    """Switch ``cfg`` to mixed precision; return a short description of what was chosen.

    Training: ``AmpOptimWrapper`` (float16, dynamic loss scale) with CUDA, else
    :class:`AutocastOptimWrapper` (bfloat16). Testing: the test loop's ``fp16`` flag (float16 autocast on
    a GPU, bfloat16 on a CPU).
    """
    cuda = torch.cuda.is_available()
    if not training:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
        return 'float16 autocast' if cuda else 'bfloat16 autocast'
    wrapper = cfg.get('optim_wrapper')
    if wrapper is None or 'optimizer' not in wrapper:
        raise ValueError('--amp needs a single optim_wrapper with an optimizer in the config')
    if cuda:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.setdefault('loss_scale', 'dynamic')
        return 'AmpOptimWrapper (float16, dynamic loss scale)'
    wrapper.type = 'backbones.AutocastOptimWrapper'
    wrapper.pop('loss_scale', None)
    return 'AutocastOptimWrapper (bfloat16, no loss scale)'
