"""Layer-wise learning-rate decay for any model with a vitzoo backbone.

mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` needs ``get_layer_depth`` on the whole model,
which only its classifiers have; mmdet and mmseg have none. This constructor asks the backbone
(``model.backbone``) for the depth of every parameter under ``backbone.`` and gives everything else
(necks, heads) the full learning rate. All of mmengine's ``paramwise_cfg`` options (``custom_keys``,
``norm_decay_mult``, ``bias_decay_mult``, ...) keep working, as it builds on the default constructor.

Config::

    optim_wrapper = dict(
        constructor='backbones.LayerDecayOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        paramwise_cfg=dict(layer_decay_rate=0.75, norm_decay_mult=0.))
"""
from typing import List, Optional

import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor

from .registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['LayerDecayOptimWrapperConstructor']


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Scale each backbone parameter's lr by ``layer_decay_rate ** (num_layers - 1 - depth)``.

    Args:
        optim_wrapper_cfg (dict): as for :class:`DefaultOptimWrapperConstructor`.
        paramwise_cfg (dict, optional): mmengine's options plus ``layer_decay_rate`` (float, default
            1.0 = no decay) and ``backbone_prefix`` (default ``'backbone.'``).
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        paramwise_cfg = dict(paramwise_cfg or {})
        self.layer_decay_rate = float(paramwise_cfg.pop('layer_decay_rate', 1.0))
        self.backbone_prefix = paramwise_cfg.pop('backbone_prefix', 'backbone.')
        if not 0 < self.layer_decay_rate <= 1:
            raise ValueError(f'layer_decay_rate must be in (0, 1], got {self.layer_decay_rate}')
        # The default constructor only makes per-parameter groups when paramwise_cfg is non-empty.
        paramwise_cfg.setdefault('custom_keys', {})
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        if prefix:
            return super().add_params(params, module, prefix=prefix, **kwargs)
        model = module.module if is_model_wrapper(module) else module
        backbone = getattr(model, 'backbone', None)
        if backbone is None or not hasattr(backbone, 'get_layer_depth'):
            raise TypeError(f'{type(self).__name__} needs a model whose backbone has get_layer_depth; '
                            f'{type(model).__name__}.backbone is {type(backbone).__name__}')
        start = len(params)
        super().add_params(params, module, prefix=prefix, **kwargs)
        names = {id(p): n for n, p in module.named_parameters()}
        wrapper_prefix = 'module.' if is_model_wrapper(module) else ''
        depth_counts = {}
        for group in params[start:]:
            name = names[id(group['params'][0])][len(wrapper_prefix):]
            depth, num_layers = backbone.get_layer_depth(name, self.backbone_prefix)
            scale = self.layer_decay_rate**(num_layers - 1 - depth)
            group['lr'] = group.get('lr', self.base_lr) * scale
            depth_counts[depth] = (scale, depth_counts.get(depth, (scale, 0))[1] + 1)
        if self.layer_decay_rate < 1:
            logger = MMLogger.get_current_instance()
            summary = ', '.join(f'{d}: x{s:.3g} ({n})' for d, (s, n) in sorted(depth_counts.items()))
            logger.info(f'layer-wise lr decay {self.layer_decay_rate}: depth: lr scale (params) {summary}')
