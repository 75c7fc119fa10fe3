"""Registries of the ``backbones`` scope.

They are children of mmengine's root registries, so mmpretrain, mmdet and mmsegmentation configs find
everything here as ``type='backbones.<Name>'`` whatever their default scope. An unprefixed name would
resolve to mm*'s own class of the same name (mmpretrain and mmseg both have ``DaViT`` and
``VisionTransformer``), which is why the prefix is required.
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='backbones', locations=['backbones'])
# Its module (backbones/datasets.py, which imports mmpretrain's datasets) loads on the first lookup.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='backbones', locations=['backbones.datasets'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optim_wrapper_constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='backbones',
    locations=['backbones'])
# Hooks the tools add to every run (backbones/runtime.py, loaded on the first lookup).
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='backbones', locations=['backbones.runtime'])
OPTIM_WRAPPERS = Registry('optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='backbones', locations=['backbones'])
