"""CIFAR-10/100 read from the standard python pickles in ``data_root``, without download or md5 check.

mmpretrain's ``CIFAR10``/``CIFAR100`` compare every file with the official archive's md5, so a set
re-packed elsewhere, or the small one ``tools/misc/make_embedded_data.py --tasks cifar`` writes, cannot
be read. These variants read the same format and check only that the files exist::

    dataset=dict(type='backbones.LocalCIFAR10', data_root='data/cifar', split='train')

This module is imported on first use through the registry's ``locations``, so ``import backbones``
does not pull in mmpretrain's datasets.
"""
from mmpretrain.datasets import CIFAR10, CIFAR100

from .registry import DATASETS

__all__ = ['LocalCIFAR10', 'LocalCIFAR100']


def _without_md5(entries):
    return [[name, None] for name, _ in entries]


@DATASETS.register_module()
class LocalCIFAR10(CIFAR10):
    """``CIFAR10`` that never downloads and does not check md5 sums (see the module docstring)."""
    train_list = _without_md5(CIFAR10.train_list)
    test_list = _without_md5(CIFAR10.test_list)
    meta = {**CIFAR10.meta, 'md5': None}

    def __init__(self, *args, **kwargs):
        kwargs['download'] = False
        super().__init__(*args, **kwargs)


@DATASETS.register_module()
class LocalCIFAR100(CIFAR100):
    """``CIFAR100`` that never downloads and does not check md5 sums (see the module docstring)."""
    train_list = _without_md5(CIFAR100.train_list)
    test_list = _without_md5(CIFAR100.test_list)
    meta = {**CIFAR100.meta, 'md5': None}

    def __init__(self, *args, **kwargs):
        kwargs['download'] = False
        super().__init__(*args, **kwargs)
