"""DaViT: Dual Attention Vision Transformers (Ding et al., ECCV 2022, arXiv:2204.03645).

Each stage alternates two kinds of block, in pairs: a *spatial* block (multi-head self-attention inside
non-overlapping windows) and a *channel* block (attention between channel groups, whose cost is linear in
the number of tokens and whose receptive field is the whole image). Every block starts its attention and
its MLP branch with a residual depthwise 3x3 convolution (conv position encoding), so no position
embedding or bias table is needed and any input size works: the stem, the downsampling convs and the
windows pad the bottom/right edge as the official model does, and the outputs are cropped back.

Layout of this implementation (channels-last ``(B, H, W, C)`` maps between blocks, so LayerNorm and the
linears need no permutes and the depthwise convs run on a channels-last NCHW view)::

    patch_embed            7x7 stride-4 conv -> LayerNorm
    stages[i].downsample   (i > 0) LayerNorm -> 2x2 stride-2 conv
    stages[i].blocks[j]    DaViTBlock = SpatialBlock + ChannelBlock
    norm{i}                output LayerNorm of every stage in ``out_indices``

The official classifier applies its final LayerNorm *after* global average pooling. With
``out_norm_after_pool=True`` the backbone does the same for the last stage and returns a ``(B, C, 1, 1)``
map (mmpretrain's ``GlobalAveragePooling`` neck is then a no-op), which reproduces the official logits
while the final norm stays in the backbone as ``norm3``; detection and segmentation load the same
converted file with ``prefix='backbone.'``. See ``configs/davit/README.md``.
"""
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple, Type, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath
from timm.models import davit as timm_davit

from .base import BaseBackbone
from .layers import Mlp, attention, maybe_checkpoint, pad_to_multiple, to_2tuple, window_partition, window_reverse
from .registry import MODELS

__all__ = ['DaViT']

Size = Tuple[int, int]


class ConvPosEnc(timm_davit.ConvPosEnc):
    """timm's conv position encoding ``x + dwconv3x3(x)``, on a channels-last ``(B, H, W, C)`` map.

    The depthwise conv runs on an NCHW *view* of the channels-last tensor, which PyTorch treats as the
    channels_last memory format: no copy in or out.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class WindowAttention(timm_davit.WindowAttention):
    """timm's window attention (the official qkv/proj layout and math, no position bias: the CPEs carry
    it), run through the shared :func:`~backbones.layers.attention` so that its kernel choice applies."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(windows, N, C)`` -> same shape."""
        windows, tokens, dim = x.shape
        qkv = self.qkv(x).view(windows, tokens, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
        x = attention(*qkv.unbind(0), scale=self.scale, fused=self.fused_attn)
        return self.proj(x.transpose(1, 2).reshape(windows, tokens, dim))


# Channel-group attention, ``softmax(scale * k^T v)`` mixing the channels of ``q``: timm's explicit
# products are the official math, and faster than any SDPA form of it (channels as the sequence make the
# tokens the head width, which SDPA's kernels do not take: it falls back to its unfused math).
ChannelAttention = timm_davit.ChannelAttention


class SpatialBlock(nn.Module):
    """CPE -> LN -> window attention (+residual) -> CPE -> LN -> MLP (+residual).

    Windows pad the bottom/right edge with zeros *after* the LayerNorm and attend without a mask, as
    the official model does (its released weights were trained and evaluated that way).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 window_size: Size,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path: float = 0.,
                 norm_layer: Type[nn.Module] = nn.LayerNorm):
        super().__init__()
        self.window_size = to_2tuple(window_size)
        self.cpe_attn = ConvPosEnc(dim)
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention(dim, self.window_size, num_heads, qkv_bias=qkv_bias)
        self.cpe_mlp = ConvPosEnc(dim)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` -> same shape."""
        height, width = x.shape[1:3]
        x = self.cpe_attn(x)
        windows = pad_to_multiple(self.norm1(x), self.window_size)
        padded_hw = windows.shape[1:3]
        windows = self.attn(window_partition(windows, self.window_size))
        attn = window_reverse(windows, self.window_size, padded_hw, (height, width))
        x = x + self.drop_path(attn)
        x = self.cpe_mlp(x)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ChannelBlock(nn.Module):
    """CPE -> LN -> channel attention (+residual) -> CPE -> LN -> MLP (+residual)."""

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path: float = 0.,
                 norm_layer: Type[nn.Module] = nn.LayerNorm):
        super().__init__()
        self.cpe_attn = ConvPosEnc(dim)
        self.norm1 = norm_layer(dim)
        self.attn = ChannelAttention(dim, num_heads, qkv_bias=qkv_bias)
        self.cpe_mlp = ConvPosEnc(dim)
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` -> same shape."""
        x = self.cpe_attn(x)
        attn = self.attn(self.norm1(x).flatten(1, 2)).view_as(x)
        x = x + self.drop_path(attn)
        x = self.cpe_mlp(x)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class DaViTBlock(nn.Module):
    """One depth unit of DaViT: a spatial-window block followed by a channel block.

    Args:
        drop_path (tuple[float, float]): stochastic-depth rates of the spatial and the channel block
            (they differ: the official schedule counts every block, not every pair).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 window_size: Size,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path: Tuple[float, float] = (0., 0.),
                 norm_layer: Type[nn.Module] = nn.LayerNorm):
        super().__init__()
        self.spatial = SpatialBlock(dim, num_heads, window_size, mlp_ratio, qkv_bias, drop_path[0], norm_layer)
        self.channel = ChannelBlock(dim, num_heads, mlp_ratio, qkv_bias, drop_path[1], norm_layer)
        self.with_cp = False  # set by BaseBackbone.set_grad_checkpointing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = maybe_checkpoint(self.spatial, x, with_cp=self.with_cp)
        return maybe_checkpoint(self.channel, x, with_cp=self.with_cp)


class PatchEmbed(nn.Module):
    """Stem: pad to a multiple of the stride, 7x7 stride-4 conv, LayerNorm. NCHW in, ``(B, H, W, C)`` out.
    (timm's ``Stem`` names its conv ``conv``, not the official ``proj``, and allows stride 4 only.)"""

    def __init__(self, in_channels: int, dim: int, patch_size: int = 4, norm_layer=nn.LayerNorm):
        super().__init__()
        self.stride = to_2tuple(patch_size)
        kernel = 2 * patch_size - 1  # 7 for the official stride 4
        self.proj = nn.Conv2d(in_channels, dim, kernel, stride=patch_size, padding=kernel // 2)
        self.norm = norm_layer(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(pad_to_multiple(x, self.stride, channels_last=False))
        return self.norm(x.permute(0, 2, 3, 1))


class Downsample(nn.Module):
    """Between stages: LayerNorm, pad to even size, 2x2 stride-2 conv. ``(B, H, W, C)`` in and out.
    (timm's ``Downsample`` names its conv ``conv``, not the official ``proj``.)"""

    def __init__(self, in_dim: int, out_dim: int, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm = norm_layer(in_dim)
        self.proj = nn.Conv2d(in_dim, out_dim, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_to_multiple(self.norm(x), (2, 2))
        return self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class DaViTStage(nn.Module):
    """Optional downsampling followed by ``depth`` DaViT blocks; ``(B, H, W, C)`` in and out."""

    def __init__(self,
                 in_dim: int,
                 dim: int,
                 depth: int,
                 num_heads: int,
                 window_size: Size,
                 mlp_ratio: float,
                 qkv_bias: bool,
                 drop_paths: Sequence[Tuple[float, float]],
                 downsample: bool,
                 norm_layer: Type[nn.Module] = nn.LayerNorm):
        super().__init__()
        self.downsample = Downsample(in_dim, dim, norm_layer) if downsample else nn.Identity()
        self.blocks = nn.ModuleList([
            DaViTBlock(dim, num_heads, window_size, mlp_ratio, qkv_bias, drop_paths[j], norm_layer)
            for j in range(depth)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        for block in self.blocks:
            x = block(x)
        return x


@MODELS.register_module()
class DaViT(BaseBackbone):
    """DaViT backbone (`DaViT: Dual Attention Vision Transformers <https://arxiv.org/abs/2204.03645>`_).

    Args:
        arch (str | dict): ``'t'``, ``'s'``, ``'b'`` (released ImageNet-1k weights), ``'l'``, ``'h'``,
            ``'g'`` (the paper's large shapes, no weights released), long names (``'tiny'``...) too, or a
            dict with ``embed_dims`` (4 ints), ``depths`` (4 ints, DaViT blocks = spatial + channel
            pairs), ``num_heads`` (4 ints) and optionally ``window_size`` (7), ``mlp_ratio`` (4.0),
            ``qkv_bias`` (True).
        in_channels (int): image channels.
        patch_size (int): stride of the stem conv (its kernel is ``2 * patch_size - 1``).
        drop_path_rate (float): stochastic depth of the last block; rates rise linearly over all
            ``2 * sum(depths)`` spatial and channel blocks in order, as in the official model.
        out_indices (Sequence[int]): stages to output, each through ``norm{i}``.
        out_norm_after_pool (bool): the last stage's output is average-pooled over space *before*
            ``norm3`` and returned as ``(B, C, 1, 1)``: the official classifier's order. Needs stage 3
            in ``out_indices``; use it in classification, not for dense tasks.
        frozen_stages (int): see :class:`BaseBackbone`.
        norm_eval (bool): see :class:`BaseBackbone`.
        with_cp (bool): gradient checkpointing of every spatial and channel block (each on its own: the
            backward pass then rebuilds one of them at a time, not a pair).
        cp_stages (int, optional): see :class:`BaseBackbone`.
        norm_layer (type): normalisation layer, LayerNorm (eps 1e-5) as in the official model.
        init_cfg (dict, optional): e.g. ``dict(type='Pretrained', checkpoint=PATH, prefix='backbone.')``.

    The window attention uses the SDPA kernels where they are faster (timm's ``use_fused_attn()``;
    ``set_fused_attention(False)`` switches to the plain path, same numbers); the channel attention is
    timm's explicit products.

    Example:
        >>> model = DaViT('t', out_indices=(0, 1, 2, 3))
        >>> [tuple(o.shape) for o in model(torch.rand(1, 3, 97, 131))]
        [(1, 96, 25, 33), (1, 192, 13, 17), (1, 384, 7, 9), (1, 768, 4, 5)]
    """

    arch_zoo: ClassVar[Dict[str, Dict[str, Any]]] = {
        't': dict(embed_dims=(96, 192, 384, 768), depths=(1, 1, 3, 1), num_heads=(3, 6, 12, 24)),
        's': dict(embed_dims=(96, 192, 384, 768), depths=(1, 1, 9, 1), num_heads=(3, 6, 12, 24)),
        'b': dict(embed_dims=(128, 256, 512, 1024), depths=(1, 1, 9, 1), num_heads=(4, 8, 16, 32)),
        # Paper's large shapes; the official code defines L only, with window 12 (at 384 px). H and G
        # (paper / timm shapes) keep the same window.
        'l': dict(embed_dims=(192, 384, 768, 1536), depths=(1, 1, 9, 1), num_heads=(6, 12, 24, 48), window_size=12),
        'h': dict(embed_dims=(256, 512, 1024, 2048), depths=(1, 1, 9, 1), num_heads=(8, 16, 32, 64), window_size=12),
        'g': dict(embed_dims=(384, 768, 1536, 3072), depths=(1, 1, 12, 3), num_heads=(12, 24, 48, 96), window_size=12),
    }
    arch_aliases: ClassVar[Dict[str, str]] = {
        'tiny': 't',
        'small': 's',
        'base': 'b',
        'large': 'l',
        'huge': 'h',
        'giant': 'g'
    }
    arch_keys: ClassVar[Tuple[str, ...]] = ('embed_dims', 'depths', 'num_heads')
    arch_defaults: ClassVar[Dict[str, Any]] = dict(window_size=7, mlp_ratio=4., qkv_bias=True)

    def __init__(self,
                 arch: Union[str, Dict[str, Any]] = 't',
                 in_channels: int = 3,
                 patch_size: int = 4,
                 drop_path_rate: float = 0.1,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 out_norm_after_pool: bool = False,
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 cp_stages: Optional[int] = None,
                 norm_layer: Type[nn.Module] = nn.LayerNorm,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(arch, out_indices, frozen_stages, norm_eval, with_cp, init_cfg, in_channels,
                         cp_stages)
        settings = self.arch_settings
        self._check_arch(settings)
        dims = [int(d) for d in settings['embed_dims']]
        depths = [int(d) for d in settings['depths']]
        heads = [int(h) for h in settings['num_heads']]
        window_size = to_2tuple(settings['window_size'])
        if out_norm_after_pool and self.num_stages - 1 not in self.out_indices:
            raise ValueError(f'DaViT: out_norm_after_pool needs the last stage ({self.num_stages - 1}) '
                             f'in out_indices, got {self.out_indices}')
        self.embed_dims = dims
        self.depths = depths
        self.out_norm_after_pool = out_norm_after_pool
        self.num_features = dims[-1]

        # One rate per block, spatial and channel blocks counted separately (2 per depth unit).
        rates = torch.linspace(0, drop_path_rate, 2 * sum(depths), device='cpu').tolist()  # also under a meta device
        pairs = [(rates[2 * u], rates[2 * u + 1]) for u in range(sum(depths))]

        self.patch_embed = PatchEmbed(in_channels, dims[0], patch_size, norm_layer)
        self.stages = nn.ModuleList()
        for i in range(self.num_stages):
            first = sum(depths[:i])
            self.stages.append(
                DaViTStage(dims[i - 1] if i else dims[0],
                           dims[i],
                           depths[i],
                           heads[i],
                           window_size,
                           float(settings['mlp_ratio']),
                           bool(settings['qkv_bias']),
                           pairs[first:first + depths[i]],
                           downsample=i > 0,
                           norm_layer=norm_layer))
        self.feature_info = [
            dict(num_chs=dims[i], reduction=patch_size * 2**i, module=f'stages.{i}') for i in range(self.num_stages)
        ]
        self._build_out_norms(norm_layer)
        self.apply(self.init_linear_weights)
        self._freeze_stages()
        self.set_grad_checkpointing(with_cp, cp_stages)

    @staticmethod
    def _check_arch(settings: Dict[str, Any]) -> None:
        """Reject a custom arch with a message naming the bad key."""

        def positive_ints(value, length: int) -> bool:
            return (isinstance(value, (list, tuple)) and len(value) == length
                    and all(isinstance(v, int) and v > 0 for v in value))

        for key in ('embed_dims', 'depths', 'num_heads'):
            if not positive_ints(settings[key], 4):
                raise ValueError(f'DaViT: arch key {key!r} must be 4 positive ints (one per stage), '
                                 f'got {settings[key]!r}')
        for i, (dim, heads) in enumerate(zip(settings['embed_dims'], settings['num_heads'])):
            if dim % heads:
                raise ValueError(f"DaViT: arch key 'num_heads' ({heads}) does not divide 'embed_dims' "
                                 f'({dim}) in stage {i}')
        window = settings['window_size']
        if not positive_ints([window] if isinstance(window, int) else window, 1 if isinstance(window, int) else 2):
            raise ValueError(f"DaViT: arch key 'window_size' must be a positive int or a pair, got {window!r}")
        ratio = settings['mlp_ratio']
        if not isinstance(ratio, (int, float)) or ratio <= 0:
            raise ValueError(f"DaViT: arch key 'mlp_ratio' must be a positive number, got {ratio!r}")

    # ------------------------------------------------------------------------------ contract hooks
    def stem_modules(self) -> List[nn.Module]:
        return [self.patch_embed]

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.stages[index]]

    def stage_part_depth(self, stage: int, part: str) -> int:
        return sum(self.depths[:stage])  # downsample: after the previous stage's last block

    # ------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``(B, C, H, W)`` images -> tuple of NCHW maps at strides 4, 8, 16, 32 for ``out_indices``."""
        self.check_input(x)
        x = self.patch_embed(x)
        outs = []
        last = self.num_stages - 1
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i not in self.out_indices:
                continue
            norm = getattr(self, f'norm{i}')
            if i == last and self.out_norm_after_pool:
                outs.append(norm(x.mean(dim=(1, 2)))[:, :, None, None])
            else:
                outs.append(norm(x).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
