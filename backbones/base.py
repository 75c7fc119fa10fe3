"""The contract every vitzoo backbone follows, whatever the task that uses it.

A backbone takes ``(B, 3, H, W)`` images of any size ``H, W >= 32`` (anything else is refused in one line
by :meth:`BaseBackbone.check_input`) and returns a tuple of NCHW feature
maps, one per entry of ``out_indices``, at strides 4, 8, 16, 32 (ViT: its own pyramid), each through its
own norm ``norm{i}``. The same class serves mmpretrain (``out_indices=(3,)`` + pooling neck), mmdet and
mmseg (all four stages). This module holds what is common to the families: the ``arch`` zoo lookup with
clear errors, ``out_indices``, ``frozen_stages``, ``norm_eval``, ``with_cp``, safe pretrained loading
through ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')``, and
``get_layer_depth`` for layer-wise learning-rate decay.
"""
import copy
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import load_state_dict
from torch.nn.modules.batchnorm import _BatchNorm

from .checkpoint import find_state_dict, load_weights_file, strip_prefix

__all__ = ['BaseBackbone']


class BaseBackbone(BaseModule):
    """Base class of the vitzoo backbones.

    Subclasses set :attr:`arch_zoo` (and :attr:`arch_keys`, the keys a custom ``arch`` dict must give),
    build their modules, and implement :meth:`stem_modules`, :meth:`stage_modules`,
    :meth:`stage_part_depth` (or their own :meth:`layer_depth_of`) and ``forward``: the stem, then a loop
    over stages that run their own blocks (under :func:`~backbones.layers.maybe_checkpoint` with the
    ``with_cp`` flag of the stage or block). They set :attr:`feature_info` before
    :meth:`_build_out_norms` and call :meth:`set_grad_checkpointing` last.

    Args:
        arch (str | dict): a name from :attr:`arch_zoo` (case-insensitive, aliases allowed) or a dict
            with at least the keys in :attr:`arch_keys`; missing optional keys take the values of
            :attr:`arch_defaults`.
        out_indices (Sequence[int]): stages whose outputs are returned (negative counts from the end).
        frozen_stages (int): ``-1`` freezes nothing, ``0`` the stem, ``k`` the stem and the first ``k``
            stages with their output norms (no gradient, eval mode).
        norm_eval (bool): keep BatchNorm layers in eval mode while training (their statistics frozen).
        with_cp (bool): gradient checkpointing: less memory, same numbers, the checkpointed blocks' forward
            run again in the backward pass.
        cp_stages (int, optional): with ``with_cp``, checkpoint the stem and only the first ``cp_stages``
            stages (``None``: every stage). The first stages hold the most activation memory per unit of
            compute, so a few of them give most of the saving for a fraction of the time (README).
        init_cfg (dict | list[dict], optional): ``dict(type='Pretrained', checkpoint=PATH,
            prefix='backbone.')`` loads weights safely (see :mod:`backbones.checkpoint`).
        in_channels (int): image channels that ``forward`` accepts (see :meth:`check_input`).
    """

    arch_zoo: ClassVar[Dict[str, Dict[str, Any]]] = {}
    arch_aliases: ClassVar[Dict[str, str]] = {}
    arch_keys: ClassVar[Tuple[str, ...]] = ()
    arch_defaults: ClassVar[Dict[str, Any]] = {}
    num_stages: int = 4
    #: smallest image side ``forward`` accepts: the stride-32 outputs keep at least one pixel
    min_input_size: ClassVar[int] = 32
    #: key endings whose owning modules resize a checkpoint's tensor when it is loaded (no shape check)
    resized_on_load: ClassVar[Tuple[str, ...]] = ('relative_position_bias_table', )
    #: timm-style, one entry per stage: ``dict(num_chs, reduction, module)``; read by :attr:`out_channels`
    #: and :meth:`_build_out_norms`, so families set it before building the output norms
    feature_info: List[Dict[str, Any]]

    def __init__(self,
                 arch: Union[str, Dict[str, Any]],
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: Optional[Union[dict, List[dict]]] = None,
                 in_channels: int = 3,
                 cp_stages: Optional[int] = None):
        super().__init__(init_cfg=init_cfg)
        self.in_channels = in_channels
        self.arch_settings = self.resolve_arch(arch)
        self.out_indices = self._check_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= self.num_stages:
            raise ValueError(f'{type(self).__name__}: frozen_stages={frozen_stages!r} is not valid; '
                             f'use -1 (nothing) to {self.num_stages} (every stage)')
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        self.cp_stages = self._check_cp_stages(cp_stages)

    # ----------------------------------------------------------------------------------- arch zoo
    @classmethod
    def resolve_arch(cls, arch: Union[str, Mapping[str, Any]]) -> Dict[str, Any]:
        """Return the hyper-parameters of ``arch`` (a zoo name or a dict) over :attr:`arch_defaults`, or raise
        a clear error. The one place where defaults are merged: families read ``self.arch_settings``."""
        name = cls.__name__
        if isinstance(arch, str):
            key = cls.arch_aliases.get(arch.lower(), arch.lower())
            if key not in cls.arch_zoo:
                raise ValueError(f'{name}: unknown arch {arch!r}; choose one of {sorted(cls.arch_zoo)} '
                                 f'or pass a dict with the keys {list(cls.arch_keys)}')
            arch = cls.arch_zoo[key]
        elif not isinstance(arch, Mapping):
            raise TypeError(f'{name}: arch must be a name or a dict, got {type(arch).__name__}')
        missing = [k for k in cls.arch_keys if k not in arch]
        unknown = sorted(set(arch) - set(cls.arch_keys) - set(cls.arch_defaults))
        if missing or unknown:
            problems = []
            if missing:
                problems.append(f'missing keys {missing}')
            if unknown:
                problems.append(f'unknown keys {unknown}')
            raise ValueError(f'{name}: custom arch has {" and ".join(problems)}; required keys are '
                             f'{list(cls.arch_keys)}, optional ones {sorted(cls.arch_defaults)}')
        settings = copy.deepcopy(cls.arch_defaults)
        settings.update(copy.deepcopy(dict(arch)))
        return settings

    def _check_out_indices(self, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        result = []
        for index in out_indices:
            if not isinstance(index, int) or not -self.num_stages <= index < self.num_stages:
                raise ValueError(f'{type(self).__name__}: out_indices entry {index!r} is out of range; '
                                 f'valid stages are 0..{self.num_stages - 1} (or negative from the end)')
            result.append(index % self.num_stages)
        if len(set(result)) != len(result):
            raise ValueError(f'{type(self).__name__}: out_indices {tuple(out_indices)} repeats a stage')
        return tuple(result)

    # ------------------------------------------------------------------------- family-specific hooks
    def stem_modules(self) -> List[nn.Module]:
        """Modules that run before the first stage (frozen by ``frozen_stages >= 0``)."""
        raise NotImplementedError

    def stage_modules(self, index: int) -> List[nn.Module]:
        """Modules of stage ``index`` (frozen by ``frozen_stages > index``), its output norm excluded."""
        raise NotImplementedError

    #: attribute name of the modules that run before the first stage (layer depth 0)
    stem_name: ClassVar[str] = 'patch_embed'

    def stage_part_depth(self, stage: int, part: str) -> int:
        """Layer depth of ``stages.{stage}.{part}`` for a part other than its blocks (e.g. a patch
        embedding or downsampling layer), for :meth:`layer_depth_of`."""
        raise NotImplementedError

    def layer_depth_of(self, name: str) -> int:
        """Depth of a backbone parameter ``name`` for layer-wise lr decay, in ``[0, num_layers - 1)``:
        the stem 0, block ``j`` of stage ``i`` ``sum(depths[:i]) + j + 1``, an output norm ``norm{i}``
        that of its stage's last block, other stage parts :meth:`stage_part_depth`. Hierarchical
        backbones with ``stem_name`` and ``stages.{i}.blocks.{j}`` share it."""
        depths = self.arch_settings['depths']
        parts = name.split('.')
        if parts[0] == self.stem_name:
            return 0
        if parts[0] == 'stages':
            stage = int(parts[1])
            if parts[2] == 'blocks':
                return sum(depths[:stage]) + int(parts[3]) + 1
            return self.stage_part_depth(stage, parts[2])
        if parts[0].startswith('norm') and parts[0][4:].isdigit():
            return sum(depths[:int(parts[0][4:]) + 1])
        return self.num_layers - 1

    @property
    def num_layers(self) -> int:
        """Number of lr-decay layers: the stem, one per block, and one for what follows the backbone."""
        return sum(self.arch_settings['depths']) + 2

    # ------------------------------------------------------------------------------ shared behaviour
    @property
    def out_channels(self) -> List[int]:
        """Channels of each output, read from :attr:`feature_info` (timm's per-stage ``num_chs``,
        ``reduction``, ``module``), which every family sets once."""
        return [self.feature_info[i]['num_chs'] for i in self.out_indices]

    @staticmethod
    def init_linear_weights(module: nn.Module) -> None:
        """The official models' default: truncated-normal (std 0.02) linears with zero bias (for ``apply``)."""
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def check_input(self, x: torch.Tensor) -> None:
        """Refuse anything but ``(B, in_channels, H, W)`` images with ``H, W >= min_input_size``, in one line.

        Called first by every family's ``forward``, so a wrong input never reaches a layer that would fail
        with an unrelated message (or, for small images, run silently). Plain shape tests: no graph
        break under ``torch.compile(fullgraph=True)``.
        """
        size = self.min_input_size
        if x.ndim != 4 or x.shape[1] != self.in_channels or x.shape[2] < size or x.shape[3] < size:
            raise ValueError(f'{type(self).__name__}: expected images of shape (B, {self.in_channels}, H, W) '
                             f'with H, W >= {size}, got {tuple(x.shape)}')

    def _build_out_norms(self, norm_layer: Callable[[int], nn.Module]) -> None:
        """Add ``norm{i} = norm_layer(feature_info[i]['num_chs'])`` for every output stage ``i``."""
        for i in self.out_indices:
            self.add_module(f'norm{i}', norm_layer(self.feature_info[i]['num_chs']))

    def set_fused_attention(self, enabled: bool = True) -> None:
        """Switch every attention module between the fused (SDPA) and the plain path."""
        for module in self.modules():
            if hasattr(module, 'fused_attn'):
                module.fused_attn = enabled

    def _check_cp_stages(self, stages: Optional[int]) -> Optional[int]:
        if stages is not None and (isinstance(stages, bool) or not isinstance(stages, int)
                                   or not 0 <= stages <= self.num_stages):
            raise ValueError(f'{type(self).__name__}: cp_stages={stages!r} is not valid; use None (every stage) '
                             f'or 0 (the stem only) to {self.num_stages}')
        return stages

    def set_grad_checkpointing(self, enable: bool = True, stages: Optional[int] = None) -> None:
        """timm-style switch for :attr:`with_cp`, passed on to every submodule with a ``with_cp`` flag
        (the stem's, and those in :meth:`stage_modules`); ``stages`` as ``cp_stages``. Families call it
        with their ``with_cp`` and ``cp_stages`` at the end of ``__init__``."""
        self.with_cp, self.cp_stages = enable, self._check_cp_stages(stages)
        for module in self.modules():
            if module is not self and hasattr(module, 'with_cp'):
                module.with_cp = enable
        for index in range(self.num_stages if stages is None else stages, self.num_stages):
            for stage in self.stage_modules(index):
                for module in stage.modules():
                    if hasattr(module, 'with_cp'):
                        module.with_cp = False

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        modules = list(self.stem_modules())
        for i in range(self.frozen_stages):
            modules += self.stage_modules(i)
            if i in self.out_indices:
                modules.append(getattr(self, f'norm{i}'))
        for module in modules:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer-wise depth of a parameter, for learning-rate decay.

        Args:
            param_name (str): name of the parameter in the model that owns the backbone.
            prefix (str): the backbone's prefix in that model, e.g. ``'backbone.'``.

        Returns:
            tuple[int, int]: ``(depth, num_layers)``; the stem has depth 0, parameters outside the
            backbone (neck, heads) ``num_layers - 1``.
        """
        num_layers = self.num_layers
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        return self.layer_depth_of(param_name[len(prefix):]), num_layers

    # ---------------------------------------------------------------------------------- pretrained
    def adapt_state_dict(self, state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Family hook: adjust loaded weights to this model (e.g. resize position embeddings)."""
        return state_dict

    def load_pretrained(self, path: str, prefix: Optional[str] = None) -> None:
        """Load weights from ``path`` (``.pth``, ``.safetensors``) without unpickling code.

        Keys under ``prefix`` (e.g. ``'backbone.'`` of a converted classifier) are used; a bare
        backbone state dict works too. Tables and embeddings made for another window or grid size
        (:attr:`resized_on_load`) are resized by the modules that own them. Refused in one line, before
        anything is loaded: a file whose shapes are another arch's, or one with no key of this model.
        mmengine's ``load_state_dict`` reports the missing and unexpected keys (as ``PretrainedInit``).
        """
        name = type(self).__name__
        state_dict = strip_prefix(find_state_dict(load_weights_file(path)), prefix)
        state_dict = self.adapt_state_dict(state_dict)
        own = self.state_dict()
        mismatched = [
            k for k, v in state_dict.items()
            if k in own and tuple(v.shape) != tuple(own[k].shape) and not k.endswith(self.resized_on_load)
        ]
        if mismatched:
            shapes = ', '.join(f'{k}: {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}'
                               for k in mismatched[:3])
            raise ValueError(f'{name}: {path} does not fit this arch ({shapes}); '
                             'was it converted for another variant?')
        loaded = sum(k in state_dict for k in own)
        if loaded == 0:
            raise ValueError(f'{name}: no weight in {path} matches this model (prefix={prefix!r}); convert '
                             'official checkpoints with tools/model_converters/ first')
        load_state_dict(self, state_dict, strict=False, logger='current')
        MMLogger.get_current_instance().info(f'{name}: loaded {loaded} of {len(own)} tensors from {path}')

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            if not cfg.get('checkpoint'):
                raise ValueError(f'{type(self).__name__}: init_cfg type Pretrained needs a checkpoint path')
            self.load_pretrained(cfg['checkpoint'], cfg.get('prefix'))
            self._is_init = True
            return
        super().init_weights()
