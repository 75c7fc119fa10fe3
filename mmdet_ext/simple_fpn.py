"""ViTDet's simple feature pyramid (Li et al., "Exploring Plain Vision Transformer Backbones for Object
Detection", ECCV 2022), as an mmdet neck: ``type='mmdet_ext.SimpleFPN'``.

A plain ViT gives one map at stride 16. Instead of an FPN's top-down path over a hierarchy, the pyramid
is built from that last map alone: stride 4 by two 2x2 transposed convs (LayerNorm and GELU between),
stride 8 by one, stride 16 as is, stride 32 by 2x2 max-pooling; every level then gets a 1x1 and a 3x3
conv, each followed by a channels-first LayerNorm. Extra coarser levels (``num_outs`` beyond the scale
factors) come from max-pooling with stride 2 (ViTDet's Mask R-CNN ``p6``) or from stride-2 3x3 convs
(RetinaNet's ``p6``/``p7``). mmdet 3.3 ships no such neck in its package (only in its ``projects/``
folder, which is not installed), hence this one.
"""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from .registry import MODELS

__all__ = ['SimpleFPN', 'LayerNorm2d']


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNorm(nn.Sequential):
    """Bias-free conv followed by a channels-first LayerNorm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        self.add_module('conv', nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2,
                                          bias=False))
        self.add_module('norm', LayerNorm2d(out_channels, eps=1e-6))


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Simple feature pyramid from a single-scale (ViT) map.

    Args:
        in_channels (int | Sequence[int]): channels of the backbone map (a sequence of equal widths is
            accepted, as ``backbone.out_channels`` gives it).
        out_channels (int): channels of every output level (256 for mmdet's heads).
        scale_factors (Sequence[float]): rescaling of the input map per level, from
            ``{4, 2, 1, 0.5}``; ``(4, 2, 1, 0.5)`` turns a stride-16 map into strides 4, 8, 16, 32,
            ``(2, 1, 0.5)`` into 8, 16, 32 (RetinaNet).
        num_outs (int): output levels; those beyond ``scale_factors`` are extra coarser levels.
        extra_levels (str): ``'maxpool'`` (1x1 max-pool, stride 2, of the previous level) or
            ``'conv'`` (3x3 stride-2 conv of the previous level, ReLU before every conv after the first).
        in_index (int): which backbone output to use (the last by default).
        init_cfg (dict, optional): mmengine init config.

    Returns (forward):
        tuple[Tensor]: ``num_outs`` NCHW maps, finest first.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 out_channels: int = 256,
                 scale_factors: Sequence[float] = (4.0, 2.0, 1.0, 0.5),
                 num_outs: int = 5,
                 extra_levels: str = 'maxpool',
                 in_index: int = -1,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(in_channels, int):
            widths = set(int(c) for c in in_channels)
            if len(widths) != 1:
                raise ValueError(f'SimpleFPN: expects one map width, got in_channels={list(in_channels)}')
            in_channels = widths.pop()
        if num_outs < len(scale_factors):
            raise ValueError(f'SimpleFPN: num_outs={num_outs} is smaller than the {len(scale_factors)} '
                             'scale factors')
        if extra_levels not in ('maxpool', 'conv'):
            raise ValueError(f"SimpleFPN: extra_levels must be 'maxpool' or 'conv', got {extra_levels!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.scale_factors = tuple(float(s) for s in scale_factors)
        self.num_outs = num_outs
        self.extra_levels = extra_levels
        self.in_index = in_index

        self.rescales = nn.ModuleList()
        self.lateral_convs = nn.ModuleList()
        self.output_convs = nn.ModuleList()
        for scale in self.scale_factors:
            rescale, width = self._rescale(scale, in_channels)
            self.rescales.append(rescale)
            self.lateral_convs.append(ConvNorm(width, out_channels, 1))
            self.output_convs.append(ConvNorm(out_channels, out_channels, 3))
        num_extra = num_outs - len(self.scale_factors)
        self.extra_convs = nn.ModuleList(
            [nn.Conv2d(out_channels, out_channels, 3, 2, 1) for _ in range(num_extra)] if extra_levels == 'conv'
            else [])

    @staticmethod
    def _rescale(scale: float, dim: int) -> Tuple[nn.Module, int]:
        if scale == 4.0:
            return nn.Sequential(
                nn.ConvTranspose2d(dim, dim // 2, 2, 2), LayerNorm2d(dim // 2, eps=1e-6), nn.GELU(),
                nn.ConvTranspose2d(dim // 2, dim // 4, 2, 2)), dim // 4
        if scale == 2.0:
            return nn.ConvTranspose2d(dim, dim // 2, 2, 2), dim // 2
        if scale == 1.0:
            return nn.Identity(), dim
        if scale == 0.5:
            # ceil: on odd maps the coarse level still covers the whole image, as a strided conv would.
            return nn.MaxPool2d(2, 2, ceil_mode=True), dim
        raise ValueError(f'SimpleFPN: scale factor {scale} is not one of 4, 2, 1, 0.5')

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]) -> Tuple[torch.Tensor, ...]:
        x = inputs if isinstance(inputs, torch.Tensor) else inputs[self.in_index]
        outs: List[torch.Tensor] = []
        for rescale, lateral, output in zip(self.rescales, self.lateral_convs, self.output_convs):
            outs.append(output(lateral(rescale(x))))
        for i in range(self.num_outs - len(self.scale_factors)):
            if self.extra_levels == 'maxpool':
                outs.append(F.max_pool2d(outs[-1], 1, 2))
            else:
                prev = outs[-1] if i == 0 else F.relu(outs[-1])
                outs.append(self.extra_convs[i](prev))
        return tuple(outs)
