"""GC ViT: Global Context Vision Transformers (Hatamizadeh et al., ICML 2023).

One implementation for classification, detection and segmentation. Each stage alternates local window
attention with *global* window attention, whose queries come from a global-query generator (stacked
fused-MBConv feature blocks that pool the stage's map down to one window) shared by every window of an
image. A stage downsamples at its end; the stem is a stride-2 conv plus such a downsampler.

At the size a model was built for (224 with windows 7, 7, 14, 7, or the 21K-384/512 large models) the
outputs equal the official classifier's. At any other size the model does what the official detection
code does: windows are zero-padded (after the block's first norm) and cropped back, the generator's
output is bicubic-resized to the window when its size differs, and relative-position tables made for
another window are bicubic-resized when loaded. Dense-task configs therefore use bigger windows
(the official detection recipe uses 24 in every stage) and let stage 3's generator pool as well.
"""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from timm.layers import use_fused_attn

from .base import BaseBackbone
from .layers import (Mlp, RelativePositionBias, attention, is_tracing, maybe_checkpoint, pad_to_multiple, to_2tuple,
                     window_partition, window_reverse)
from .registry import MODELS

__all__ = ['GCViT']

# Feature blocks in each stage's global-query generator: log2(stage size / window) at 224 (56->7, 28->7,
# then one block at the two coarsest stages).
QUERY_BLOCKS_PER_STAGE = (3, 2, 1, 1)


class SqueezeExcite(nn.Module):
    """Channel gating from globally pooled features; bias-free linears as in the paper's MBConv.

    Own code: timm's ``SqueezeExcite`` gates through 1x1 convs whose width it rounds to a multiple of 8."""

    def __init__(self, channels: int, ratio: float = 0.25):
        super().__init__()
        hidden = int(channels * ratio)
        self.reduce = nn.Linear(channels, hidden, bias=False)
        self.act = nn.GELU()
        self.expand = nn.Linear(hidden, channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.expand(self.act(self.reduce(x.mean(dim=(2, 3)))))
        return x * gate.sigmoid()[:, :, None, None]


class FusedMBConv(nn.Module):
    """Residual ``x + pw(se(gelu(dw(x))))`` on NCHW maps: depthwise 3x3, squeeze-excite, pointwise."""

    def __init__(self, channels: int):
        super().__init__()
        self.dw_conv = nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False)
        self.act = nn.GELU()
        self.se = SqueezeExcite(channels)
        self.pw_conv = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pw_conv(self.se(self.act(self.dw_conv(x))))


class Downsample(nn.Module):
    """LayerNorm, fused MBConv, stride-2 3x3 conv, LayerNorm; channels-last in and out."""

    def __init__(self, dim: int, out_dim: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.conv = FusedMBConv(dim)
        self.reduction = nn.Conv2d(dim, out_dim, 3, 2, 1, bias=False)
        self.norm2 = nn.LayerNorm(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x).permute(0, 3, 1, 2)
        x = self.reduction(self.conv(x))
        return self.norm2(x.permute(0, 2, 3, 1))


class PatchEmbed(nn.Module):
    """Stem: stride-2 3x3 conv, then a same-width :class:`Downsample`; overall stride 4."""

    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, 3, 2, 1)
        self.down = Downsample(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.proj(x).permute(0, 2, 3, 1))


class FeatureBlock(nn.Module):
    """Global-query feature extraction: fused MBConv, then an optional stride-2 max-pool (NCHW)."""

    def __init__(self, dim: int, downsample: bool):
        super().__init__()
        self.conv = FusedMBConv(dim)
        self.pool = nn.MaxPool2d(3, 2, 1) if downsample else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x))


class GlobalQueryGenerator(nn.Module):
    """Turns a stage's input map into one window of global queries, ``(B, heads, wh*ww, head_dim)``.

    Args:
        dim (int): stage width.
        num_heads (int): attention heads.
        window_size (tuple[int, int]): the stage's window.
        num_blocks (int): feature blocks to stack.
        downsample (bool): whether the blocks max-pool (the last stage's never does).
    """

    def __init__(self, dim: int, num_heads: int, window_size: Tuple[int, int], num_blocks: int,
                 downsample: bool):
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.blocks = nn.Sequential(*[FeatureBlock(dim, downsample) for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(x)
        if is_tracing() or tuple(x.shape[-2:]) != self.window_size:
            # Any input size: the official detection code resizes the pooled map to the window (a
            # traced graph always does: resizing to the same size is exact, and it spares a shape branch).
            x = F.interpolate(x, size=self.window_size, mode='bicubic', align_corners=False)
        b, c = x.shape[:2]
        return x.flatten(2).transpose(1, 2).reshape(b, -1, self.num_heads, c // self.num_heads).transpose(1, 2)


class WindowAttention(nn.Module):
    """Multi-head attention inside windows with a relative-position bias.

    Local blocks project queries, keys and values from the window (``qkv`` is ``3*dim`` wide); global
    blocks project only keys and values (``2*dim``) and take the image's global queries, shared by all
    of its windows.
    """

    def __init__(self, dim: int, num_heads: int, window_size: Tuple[int, int], use_global_query: bool,
                 qkv_bias: bool = True, attn_drop: float = 0., proj_drop: float = 0.):
        super().__init__()
        self.fused_attn = use_fused_attn()  # switched by BaseBackbone.set_fused_attention
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.use_global_query = use_global_query
        self.qkv = nn.Linear(dim, dim * (2 if use_global_query else 3), bias=qkv_bias)
        self.rel_pos = RelativePositionBias(window_size, num_heads)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, q_global: Optional[torch.Tensor] = None) -> torch.Tensor:
        num_windows_total, n, c = x.shape
        parts = 2 if self.use_global_query else 3
        qkv = self.qkv(x).reshape(num_windows_total, n, parts, self.num_heads, self.head_dim)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        if self.use_global_query:
            k, v = qkv.unbind(0)
            batch = q_global.shape[0]
            q = q_global.unsqueeze(1).expand(batch, num_windows_total // batch, -1, -1, -1)
            q = q.reshape(num_windows_total, self.num_heads, n, self.head_dim)
        else:
            q, k, v = qkv.unbind(0)
        x = attention(q, k, v, bias=self.rel_pos(q.dtype).unsqueeze(0), scale=self.scale,
                      dropout_p=self.attn_drop if self.training else 0., fused=self.fused_attn)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(num_windows_total, n, c)))


class GCViTBlock(nn.Module):
    """Pre-norm transformer block over (padded) windows of a channels-last map."""

    def __init__(self, dim: int, num_heads: int, window_size: Tuple[int, int], use_global_query: bool,
                 mlp_ratio: float, qkv_bias: bool = True, drop: float = 0., attn_drop: float = 0.,
                 drop_path: float = 0., layer_scale: Optional[float] = None):
        super().__init__()
        self.window_size = window_size
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, window_size, use_global_query, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        if layer_scale is not None:
            self.gamma1 = nn.Parameter(torch.full((dim, ), float(layer_scale)))
            self.gamma2 = nn.Parameter(torch.full((dim, ), float(layer_scale)))
        else:
            self.gamma1 = self.gamma2 = None

    def forward(self, x: torch.Tensor, q_global: Optional[torch.Tensor] = None) -> torch.Tensor:
        _, h, w, _ = x.shape
        padded = pad_to_multiple(self.norm1(x), self.window_size)
        windows = self.attn(window_partition(padded, self.window_size), q_global)
        y = window_reverse(windows, self.window_size, padded.shape[1:3], (h, w))
        if self.gamma1 is not None:
            y = y * self.gamma1
        x = x + self.drop_path(y)
        y = self.mlp(self.norm2(x))
        if self.gamma2 is not None:
            y = y * self.gamma2
        return x + self.drop_path(y)


class GCViTStage(nn.Module):
    """Global-query generator, blocks alternating local (even) and global (odd) attention, and an
    optional downsampler at the end.

    ``forward`` takes a channels-last map and returns the stage's output before the downsampler (what the
    model normalises as stage output) and the next stage's input (downsampled, or the same map)."""

    def __init__(self, dim: int, depth: int, num_heads: int, window_size: Tuple[int, int],
                 query_blocks: int, query_downsample: bool, mlp_ratio: float, qkv_bias: bool,
                 drop: float, attn_drop: float, drop_paths: Sequence[float], layer_scale: Optional[float],
                 out_dim: Optional[int]):
        super().__init__()
        self.global_query = GlobalQueryGenerator(dim, num_heads, window_size, query_blocks, query_downsample)
        self.blocks = nn.ModuleList([
            GCViTBlock(dim, num_heads, window_size, use_global_query=i % 2 == 1, mlp_ratio=mlp_ratio,
                       qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, drop_path=drop_paths[i],
                       layer_scale=layer_scale) for i in range(depth)
        ])
        self.downsample = Downsample(dim, out_dim) if out_dim is not None else None
        self.with_cp = False  # set by BaseBackbone.set_grad_checkpointing

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # Only odd-indexed blocks attend globally: a one-block stage needs no global queries.
        q_global = None
        if len(self.blocks) > 1:
            q_global = maybe_checkpoint(self.global_query, x.permute(0, 3, 1, 2), with_cp=self.with_cp)
        for block in self.blocks:
            x = maybe_checkpoint(block, x, q_global, with_cp=self.with_cp)
        if self.downsample is None:
            return x, x
        return x, maybe_checkpoint(self.downsample, x, with_cp=self.with_cp)


@MODELS.register_module()
class GCViT(BaseBackbone):
    """GC ViT backbone (``type='backbones.GCViT'``).

    Args:
        arch (str | dict): ``xxt, xt, t, t2, s, s2, b, l`` (also ``xxtiny`` ... ``large``), ``l-384`` and
            ``l-512`` (ImageNet-21K large at 384 / 512), or a dict with ``embed_dims, depths, num_heads,
            mlp_ratio`` and optionally ``window_size, layer_scale, drop_path_rate``.
        in_channels (int): image channels.
        window_size (int | Sequence[int], optional): per-stage windows, overriding the arch's (e.g. 24
            for detection). Checkpoints trained with other windows load with resized position tables.
        query_downsample (Sequence[bool]): whether each stage's global-query blocks max-pool. The
            classifiers pool in stages 0 and 1 only; with windows larger than stage 2's map at the
            pretraining size, the official detection code pools in stage 2 as well.
        drop_path_rate (float, optional): stochastic depth, linearly increasing over all blocks;
            defaults to the arch's ImageNet value.
        drop_rate (float): dropout after attention and MLP projections.
        attn_drop_rate (float): attention-weight dropout.
        qkv_bias (bool): bias of the qkv projections.
        out_indices, frozen_stages, norm_eval, with_cp, cp_stages, init_cfg: see :class:`BaseBackbone`.

    Returns (forward):
        tuple[Tensor]: for each ``i`` in ``out_indices``, stage ``i``'s output before its downsampler
        through ``norm{i}``, NCHW at stride ``4 * 2**i``.
    """

    arch_zoo = {
        'xxt': dict(embed_dims=64, depths=(2, 2, 6, 2), num_heads=(2, 4, 8, 16), mlp_ratio=3., drop_path_rate=0.2),
        'xt': dict(embed_dims=64, depths=(3, 4, 6, 5), num_heads=(2, 4, 8, 16), mlp_ratio=3., drop_path_rate=0.2),
        't': dict(embed_dims=64, depths=(3, 4, 19, 5), num_heads=(2, 4, 8, 16), mlp_ratio=3., drop_path_rate=0.2),
        't2': dict(embed_dims=64, depths=(3, 4, 29, 5), num_heads=(2, 4, 8, 16), mlp_ratio=3., drop_path_rate=0.25),
        's': dict(embed_dims=96, depths=(3, 4, 19, 5), num_heads=(3, 6, 12, 24), mlp_ratio=2., layer_scale=1e-5,
                  drop_path_rate=0.3),
        's2': dict(embed_dims=96, depths=(3, 4, 23, 5), num_heads=(3, 6, 12, 24), mlp_ratio=3., layer_scale=1e-5,
                   drop_path_rate=0.35),
        'b': dict(embed_dims=128, depths=(3, 4, 19, 5), num_heads=(4, 8, 16, 32), mlp_ratio=2., layer_scale=1e-5,
                  drop_path_rate=0.5),
        'l': dict(embed_dims=192, depths=(3, 4, 19, 5), num_heads=(6, 12, 24, 48), mlp_ratio=2., layer_scale=1e-5,
                  drop_path_rate=0.5),
        'l-384': dict(embed_dims=192, depths=(3, 4, 19, 5), num_heads=(6, 12, 24, 48), mlp_ratio=2.,
                      layer_scale=1e-5, drop_path_rate=0.1, window_size=(12, 12, 24, 12)),
        'l-512': dict(embed_dims=192, depths=(3, 4, 19, 5), num_heads=(6, 12, 24, 48), mlp_ratio=2.,
                      layer_scale=1e-5, drop_path_rate=0.1, window_size=(16, 16, 32, 16)),
    }
    arch_aliases = {
        'xxtiny': 'xxt', 'xtiny': 'xt', 'tiny': 't', 'tiny2': 't2', 'small': 's', 'small2': 's2', 'base': 'b',
        'large': 'l', 'large-384': 'l-384', 'large-512': 'l-512'
    }
    arch_keys = ('embed_dims', 'depths', 'num_heads', 'mlp_ratio')
    arch_defaults = dict(window_size=(7, 7, 14, 7), layer_scale=None, drop_path_rate=0.2)

    def __init__(self,
                 arch='t',
                 in_channels: int = 3,
                 window_size=None,
                 query_downsample: Sequence[bool] = (True, True, False, False),
                 drop_path_rate: Optional[float] = None,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 qkv_bias: bool = True,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 cp_stages: Optional[int] = None,
                 init_cfg=None):
        super().__init__(arch, out_indices, frozen_stages, norm_eval, with_cp, init_cfg, in_channels,
                         cp_stages)
        settings = self.arch_settings
        depths, heads = tuple(settings['depths']), tuple(settings['num_heads'])
        if len(depths) != 4 or len(heads) != 4:
            raise ValueError(f'GCViT: depths and num_heads need 4 entries, got {depths} and {heads}')
        windows = settings['window_size'] if window_size is None else window_size
        windows = [to_2tuple(w) for w in ((windows, ) * 4 if isinstance(windows, int) else windows)]
        if len(windows) != 4 or any(len(w) != 2 for w in windows) or len(query_downsample) != 4:
            raise ValueError(f'GCViT: window_size (ints or pairs) and query_downsample need 4 entries, got '
                             f'{windows} and {tuple(query_downsample)}')
        drop_path_rate = settings['drop_path_rate'] if drop_path_rate is None else drop_path_rate
        dims = [int(settings['embed_dims'] * 2**i) for i in range(4)]
        self.embed_dims = dims
        self.window_size = windows

        self.patch_embed = PatchEmbed(in_channels, dims[0])
        self.pos_drop = nn.Dropout(drop_rate)
        drop_paths = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            start = sum(depths[:i])
            self.stages.append(
                GCViTStage(dims[i], depths[i], heads[i], windows[i], QUERY_BLOCKS_PER_STAGE[i],
                           bool(query_downsample[i]) and i < 3, settings['mlp_ratio'], qkv_bias, drop_rate,
                           attn_drop_rate, drop_paths[start:start + depths[i]], settings['layer_scale'],
                           dims[i + 1] if i < 3 else None))
        self.feature_info = [dict(num_chs=dims[i], reduction=4 * 2**i, module=f'stages.{i}') for i in range(4)]
        self._build_out_norms(nn.LayerNorm)
        self.apply(self.init_linear_weights)
        self.set_grad_checkpointing(with_cp, cp_stages)

    def stem_modules(self) -> List[nn.Module]:
        return [self.patch_embed]

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.stages[index]]

    def stage_part_depth(self, stage: int, part: str) -> int:
        depths = self.arch_settings['depths']
        if part == 'global_query':  # runs before the stage's first block
            return sum(depths[:stage]) + 1
        return sum(depths[:stage + 1])  # downsample: after the stage's last block

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self.check_input(x)
        x = self.pos_drop(maybe_checkpoint(self.patch_embed, x, with_cp=self.with_cp))
        outs = []
        for i, stage in enumerate(self.stages):
            out, x = stage(x)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(out).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
