"""ViT: plain Vision Transformers and the hybrid R50+ViT (Dosovitskiy et al., ICLR 2021).

One implementation for classification, detection and segmentation, with weights converted from
Google's released ``.npz`` files, timm's or mmpretrain's (``tools/model_converters/vit_to_mm.py``).

The image is cut into patches (or, for the hybrid, a ResNetV2 with GroupNorm and weight-standardised
convs brings it to stride 16 and every pixel of that map is a 1x1 patch), a class token is prepended, a
learned position embedding is added and a stack of pre-norm transformer layers follows. ViT is not
hierarchical: every layer works at the patch stride. For dense tasks each *transformer layer* counts as
a stage (``num_stages`` = number of layers), so ``out_indices`` picks layers (``-1`` is the last one)
and each picked layer's patch tokens come out as an NCHW map at the patch stride (16, or 32 for /32
models, 14 for H/14) through its own ``norm{i}``; necks (mmseg's ``MultiLevelNeck``, ViTDet's simple
feature pyramid in :mod:`mmdet_ext.simple_fpn`) build the pyramid. For classification
``out_type='cls_token'`` returns the class token after the final norm, which is ``norm{depth-1}`` (the
official ``encoder_norm``).

Position embeddings are stored for the grid of ``img_size``. Inputs of any size ``>= 32`` work: the
image is zero-padded at the bottom/right to a multiple of the patch stride and the embedding grid is
resized at run time; a checkpoint made for another grid is resized when loaded (by any load path). Both
resizes are :func:`resize_pos_embed`: bilinear with aligned corners, the interpolation
``scipy.ndimage.zoom(order=1)`` does in the reference implementation's loader, so a 224 checkpoint run at
384 gives the reference's 384 numbers.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from timm.layers import StdConv2d, StdConv2dSame, create_pool2d, use_fused_attn

from .base import BaseBackbone
from .layers import Mlp, attention, is_tracing, maybe_checkpoint, pad_to_multiple, to_2tuple
from .registry import MODELS

__all__ = ['ViT', 'ResNetV2Stem', 'HYBRID_STEMS', 'resize_pos_embed']

# Stride of the hybrid's ResNetV2 stem: 2 (root conv) * 2 (max-pool) * 2 * 2 (stages 2 and 3).
RESNET_STRIDE = 16


def resize_pos_embed(pos_embed: torch.Tensor, old_grid: Tuple[int, int], new_grid: Tuple[int, int],
                     num_extra_tokens: int = 1) -> torch.Tensor:
    """Resize a ``(1, extra + gh*gw, C)`` position embedding to another patch grid.

    The extra (class) token embeddings are kept; the grid is resized bilinearly with aligned corners
    (the corner embeddings stay where they are), which is what the reference loader's
    ``scipy.ndimage.zoom(order=1)`` computes. Runs in float64 for the same reason (float32 when traced)
    and returns the input dtype. Own code: timm's ``resample_abs_pos_embed`` resizes in float32 only.
    """
    old_grid, new_grid = tuple(old_grid), tuple(new_grid)
    if not is_tracing() and old_grid == new_grid:  # traced: resizing to the same grid is exact
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    channels = grid.shape[-1]
    if grid.shape[1] != old_grid[0] * old_grid[1]:
        raise ValueError(f'position embedding has {grid.shape[1]} grid tokens, not {old_grid[0]}x{old_grid[1]}')
    # Traced graphs (ONNX Resize has no float64 kernel in onnxruntime) resize in float32: ~1e-7 apart.
    grid = grid.reshape(1, old_grid[0], old_grid[1], channels).permute(0, 3, 1, 2)
    grid = grid.float() if is_tracing() else grid.double()
    grid = F.interpolate(grid, size=new_grid, mode='bilinear', align_corners=True)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], channels).to(pos_embed.dtype)
    return torch.cat([extra, grid], dim=1)


def square_grid(num_tokens: int, num_extra_tokens: int = 1) -> Tuple[int, int]:
    """Grid of a checkpoint's position embedding: released ones are square."""
    side = int(round(math.sqrt(num_tokens - num_extra_tokens)))
    if side * side != num_tokens - num_extra_tokens:
        raise ValueError(f'cannot infer the patch grid of a position embedding with {num_tokens} tokens '
                         f'({num_extra_tokens} extra): it is not square')
    return side, side


# ----------------------------------------------------------------------------------------- hybrid stem
def std_conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, style: Dict) -> nn.Conv2d:
    """Weight-standardised conv (timm's), bias-free: symmetric padding in the seed's stem, TensorFlow
    'SAME' (the odd pixel at the bottom/right) in timm's; the standardisation eps of the style."""
    conv = StdConv2dSame if style['same_padding'] else StdConv2d
    return conv(in_channels, out_channels, kernel_size, stride, bias=False, eps=style['conv_eps'])


# How the two released hybrid stems differ: the seed's PyTorch port (jeonsworld/ViT-pytorch) and timm's
# (Google's weights renamed, TensorFlow padding kept).
HYBRID_STEMS = {
    'seed': dict(same_padding=False, conv_eps=1e-5, norm_eps=1e-6, projection_groups=None),
    'timm': dict(same_padding=True, conv_eps=1e-8, norm_eps=1e-5, projection_groups=32),
}


class ProjectionShortcut(nn.Module):
    """Strided 1x1 standardised conv and a GroupNorm (eps 1e-5) for unit shape changes: per-channel in
    the seed's stem, 32 groups in timm's."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, style: Dict):
        super().__init__()
        self.conv = std_conv(in_channels, out_channels, 1, stride, style)
        self.norm = nn.GroupNorm(style['projection_groups'] or out_channels, out_channels, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    """ResNetV2 unit as in the released hybrids: 1x1, 3x3 (strided), 1x1 standardised convs, each
    followed by GroupNorm(32), ReLU after the first two and after the residual sum."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int, stride: int = 1,
                 style: Optional[Dict] = None):
        super().__init__()
        style = style or HYBRID_STEMS['seed']
        self.conv1 = std_conv(in_channels, mid_channels, 1, 1, style)
        self.norm1 = nn.GroupNorm(32, mid_channels, eps=style['norm_eps'])
        self.conv2 = std_conv(mid_channels, mid_channels, 3, stride, style)
        self.norm2 = nn.GroupNorm(32, mid_channels, eps=style['norm_eps'])
        self.conv3 = std_conv(mid_channels, out_channels, 1, 1, style)
        self.norm3 = nn.GroupNorm(32, out_channels, eps=style['norm_eps'])
        self.act = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = ProjectionShortcut(in_channels, out_channels, stride, style) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act(self.norm1(self.conv1(x)))
        y = self.act(self.norm2(self.conv2(y)))
        y = self.norm3(self.conv3(y))
        return self.act(shortcut + y)


class ResNetV2Stem(nn.Module):
    """The hybrid's CNN: root (7x7/2 conv, GroupNorm, ReLU, 3x3/2 max-pool) and three stages of
    bottleneck units, the last two strided; ``16 * width`` channels at stride 16.

    Args:
        units (Sequence[int]): units per stage, ``(3, 4, 9)`` for R50+ViT.
        width (int): root width (64); stage ``i`` has ``width * 2**i`` mid channels, 4x that out.
        in_channels (int): image channels.
        style (str): ``'seed'``: the seed's port (symmetric conv padding, max-pool without padding
            (112 -> 55), GroupNorm eps 1e-6, per-channel projection norm, weight-standardisation eps
            1e-5); ``'timm'``: timm's ``vit_base_r50_s16_*`` (TensorFlow 'SAME' padding everywhere
            (112 -> 56), eps 1e-5, 32-group projection norm, standardisation eps 1e-8).
    """

    def __init__(self, units: Sequence[int], width: int = 64, in_channels: int = 3, style: str = 'seed'):
        super().__init__()
        if style not in HYBRID_STEMS:
            raise ValueError(f'ViT: hybrid_stem={style!r} is not one of {sorted(HYBRID_STEMS)}')
        self.style = style
        settings = HYBRID_STEMS[style]
        self.root = nn.Sequential()
        self.root.add_module('conv', std_conv(in_channels, width, 7, 2, settings))
        self.root.add_module('norm', nn.GroupNorm(32, width, eps=settings['norm_eps']))
        self.root.add_module('act', nn.ReLU(inplace=True))
        self.root.add_module('pool', create_pool2d('max', 3, 2, padding='same' if settings['same_padding'] else 0))
        self.stages = nn.ModuleList()
        in_ch = width
        for i, count in enumerate(units):
            mid, out = width * 2**i, width * 4 * 2**i
            stage = nn.Sequential(*[
                Bottleneck(in_ch if j == 0 else out, out, mid, stride=2 if (i > 0 and j == 0) else 1,
                           style=settings) for j in range(count)
            ])
            self.stages.append(stage)
            in_ch = out
        self.out_channels = in_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.root(x)
        for stage in self.stages:
            x = stage(x)
        return x


class Embedding(nn.Module):
    """Image to tokens: patches (after the ResNetV2 stem for hybrids), a class token in front, and the
    learned position embedding (the reference's ``Embeddings``; frozen as a whole by ``frozen_stages``).

    The image is zero-padded (bottom/right) to a multiple of ``stride`` so every size works, and the
    position embedding, stored for ``grid``, is resized to the actual grid when they differ.
    Returns ``(B, 1 + gh*gw, C)`` tokens and the grid ``(gh, gw)``.
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int, img_size: Tuple[int, int],
                 resnet_units: Optional[Sequence[int]] = None, resnet_width: int = 64,
                 hybrid_stem: str = 'seed'):
        super().__init__()
        if resnet_units:
            self.resnet = ResNetV2Stem(resnet_units, resnet_width, in_channels, hybrid_stem)
            in_channels = self.resnet.out_channels
            self.stride = patch_size * RESNET_STRIDE
        else:
            self.resnet = None
            self.stride = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size)
        self.grid = (math.ceil(img_size[0] / self.stride), math.ceil(img_size[1] / self.stride))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], embed_dims))
        self.register_load_state_dict_pre_hook(self.fit_loaded_pos_embed)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        x = pad_to_multiple(x, (self.stride, self.stride), channels_last=False)
        if self.resnet is not None:
            x = self.resnet(x)
        x = self.proj(x)
        grid = (x.shape[2], x.shape[3])
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x.flatten(2).transpose(1, 2)], dim=1)
        return x + resize_pos_embed(self.pos_embed, self.grid, grid), grid

    @staticmethod
    def fit_loaded_pos_embed(module: 'Embedding', state_dict, prefix: str, *_) -> None:
        """Load-state-dict pre-hook, for any load path (init_cfg, mmengine's runner, a strict
        load_state_dict): a checkpoint made for another grid gets its position embedding resized."""
        key = prefix + 'pos_embed'
        pos = state_dict.get(key)
        if pos is not None and pos.dim() == 3 and pos.shape != module.pos_embed.shape:
            state_dict[key] = resize_pos_embed(pos, square_grid(pos.shape[1]), module.grid)


# ---------------------------------------------------------------------------------------- transformer
class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection.

    ``keep_attention`` (off by default) makes the layer take the plain path and keep its softmax
    weights in ``attention_weights`` (``(B, heads, N, N)``), for visualisation; the normal path never
    materialises them.
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.,
                 proj_drop: float = 0.):
        super().__init__()
        self.fused_attn = use_fused_attn()  # switched by BaseBackbone.set_fused_attention
        if dim % num_heads:
            raise ValueError(f'ViT: embed_dims {dim} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.keep_attention = False
        self.attention_weights: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        if self.keep_attention:
            weights = ((q * self.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
            self.attention_weights = weights.detach()
            x = weights @ v
        else:
            x = attention(q, k, v, dropout_p=self.attn_drop if self.training else 0., fused=self.fused_attn)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class TransformerLayer(nn.Module):
    """Pre-norm transformer layer: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``; LayerNorm eps 1e-6."""

    def __init__(self, dim: int, num_heads: int, mlp_dims: int, qkv_bias: bool = True, drop: float = 0.,
                 attn_drop: float = 0., drop_path: float = 0.):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dims, drop=drop)
        self.with_cp = False  # set by BaseBackbone.set_grad_checkpointing (ViT's stages are its layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@MODELS.register_module()
class ViT(BaseBackbone):
    """Vision Transformer backbone, plain or hybrid (``type='backbones.ViT'``).

    Stages are transformer layers: ``num_stages`` equals the depth (12 for B, 24 for L, 32 for H),
    ``out_indices`` picks layers (``-1`` = the last; dense configs use e.g. ``(2, 5, 8, 11)`` for B or
    ``(11,)`` with a simple feature pyramid; layers after the last one picked are skipped),
    ``frozen_stages=k`` freezes ``patch_embed`` (patches, hybrid stem, class token and position
    embedding) for ``k >= 0`` and the first ``k`` layers. For layer-wise lr decay ``patch_embed`` has
    depth 0, layer ``i`` and ``norm{i}`` depth ``i + 1``, anything outside the backbone ``depth + 1``.

    Args:
        arch (str | dict): ``b16, b32, l16, l32, h14, r50-b16`` (aliases ``vit-b_16``, ``r50-vit-b_16``,
            ...), or a dict with ``embed_dims, depth, num_heads, mlp_dims, patch_size`` and optionally
            ``resnet_units`` (a hybrid: ResNetV2 stage sizes) and ``resnet_width``.
        img_size (int | tuple[int, int]): size the position embedding is stored for (that of the
            checkpoint, usually 224 or 384). Other input sizes resize it at run time.
        in_channels (int): image channels.
        out_type (str): ``'featmap'``: NCHW patch-token maps (dense tasks); ``'cls_token'``: the
            ``(B, C)`` class token (classification with ``VisionTransformerClsHead``, needs the last
            layer in ``out_indices``).
        drop_rate (float): dropout after the embeddings and in the MLPs and attention projection
            (the released models were trained with 0.1).
        attn_drop_rate (float): attention-weight dropout.
        drop_path_rate (float): stochastic depth, linearly increasing over the layers.
        qkv_bias (bool): bias of the qkv projection.
        hybrid_stem (str): hybrids only: ``'seed'`` (the seed's port, for Google's ``.npz`` files) or
            ``'timm'`` (timm's ``vit_base_r50_s16_*``, TensorFlow padding; ``vit_to_mm.py`` says which
            one a converted file needs). See :class:`ResNetV2Stem`.
        out_indices, frozen_stages, norm_eval, with_cp, cp_stages, init_cfg: see :class:`BaseBackbone`.

    Returns (forward):
        tuple[Tensor]: for ``out_type='featmap'``, for each ``i`` in ``out_indices`` layer ``i``'s patch
        tokens through ``norm{i}`` as a ``(B, C, ceil(H/s), ceil(W/s))`` map, ``s`` the patch stride;
        for ``'cls_token'``, one ``(B, C)`` tensor per index.
    """

    arch_zoo = {
        'b16': dict(embed_dims=768, depth=12, num_heads=12, mlp_dims=3072, patch_size=16),
        'b32': dict(embed_dims=768, depth=12, num_heads=12, mlp_dims=3072, patch_size=32),
        'l16': dict(embed_dims=1024, depth=24, num_heads=16, mlp_dims=4096, patch_size=16),
        'l32': dict(embed_dims=1024, depth=24, num_heads=16, mlp_dims=4096, patch_size=32),
        'h14': dict(embed_dims=1280, depth=32, num_heads=16, mlp_dims=5120, patch_size=14),
        'r50-b16': dict(embed_dims=768, depth=12, num_heads=12, mlp_dims=3072, patch_size=1,
                        resnet_units=(3, 4, 9), resnet_width=64),
    }
    arch_aliases = {
        'vit-b16': 'b16', 'vit-b_16': 'b16', 'b_16': 'b16', 'base-16': 'b16',
        'vit-b32': 'b32', 'vit-b_32': 'b32', 'b_32': 'b32', 'base-32': 'b32',
        'vit-l16': 'l16', 'vit-l_16': 'l16', 'l_16': 'l16', 'large-16': 'l16',
        'vit-l32': 'l32', 'vit-l_32': 'l32', 'l_32': 'l32', 'large-32': 'l32',
        'vit-h14': 'h14', 'vit-h_14': 'h14', 'h_14': 'h14', 'huge-14': 'h14',
        'r50-vit-b_16': 'r50-b16', 'r50+b16': 'r50-b16', 'r50_b16': 'r50-b16', 'r50-vit-b16': 'r50-b16',
    }
    arch_keys = ('embed_dims', 'depth', 'num_heads', 'mlp_dims', 'patch_size')
    arch_defaults = dict(resnet_units=None, resnet_width=64)
    resized_on_load = ('pos_embed', )  # by Embedding, for a checkpoint made for another grid
    out_types = ('featmap', 'cls_token')

    def __init__(self,
                 arch='b16',
                 img_size=224,
                 in_channels: int = 3,
                 out_type: str = 'featmap',
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.,
                 qkv_bias: bool = True,
                 hybrid_stem: str = 'seed',
                 out_indices: Sequence[int] = (-1, ),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 cp_stages: Optional[int] = None,
                 init_cfg=None):
        # Every transformer layer is a stage; the base class checks out_indices against this.
        self.num_stages = int(self.resolve_arch(arch)['depth'])
        super().__init__(arch, out_indices, frozen_stages, norm_eval, with_cp, init_cfg, in_channels,
                         cp_stages)
        settings = self.arch_settings
        if out_type not in self.out_types:
            raise ValueError(f'ViT: out_type={out_type!r} is not one of {self.out_types}')
        if out_type == 'cls_token' and self.num_stages - 1 not in self.out_indices:
            raise ValueError("ViT: out_type='cls_token' needs the last layer (-1) in out_indices, got "
                             f'{self.out_indices}')
        if hybrid_stem not in HYBRID_STEMS:
            raise ValueError(f'ViT: hybrid_stem={hybrid_stem!r} is not one of {sorted(HYBRID_STEMS)}')
        self.out_type = out_type
        self.embed_dims = dims = int(settings['embed_dims'])
        self.depth = depth = self.num_stages

        self.img_size = to_2tuple(img_size)
        if len(self.img_size) != 2:
            raise ValueError(f'ViT: img_size must be an int or a pair, got {img_size!r}')
        self.patch_embed = Embedding(in_channels, dims, int(settings['patch_size']), self.img_size,
                                     settings['resnet_units'], int(settings['resnet_width']), hybrid_stem)
        self.patch_stride = self.patch_embed.stride
        self.pos_drop = nn.Dropout(drop_rate)
        drop_paths = [drop_path_rate * i / max(depth - 1, 1) for i in range(depth)]  # linear, 0 first
        self.layers = nn.ModuleList([
            TransformerLayer(dims, int(settings['num_heads']), int(settings['mlp_dims']), qkv_bias, drop_rate,
                             attn_drop_rate, drop_paths[i]) for i in range(depth)
        ])
        self.feature_info = [
            dict(num_chs=dims, reduction=self.patch_stride, module=f'layers.{i}') for i in range(depth)
        ]
        self._build_out_norms(lambda c: nn.LayerNorm(c, eps=1e-6))
        self._init_parameters()
        self.set_grad_checkpointing(with_cp, cp_stages)

    def _init_parameters(self) -> None:
        nn.init.trunc_normal_(self.patch_embed.pos_embed, std=.02)
        nn.init.normal_(self.patch_embed.cls_token, std=1e-6)
        for module in self.layers.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=.02)
                nn.init.zeros_(module.bias)

    # ----------------------------------------------------------------------------------- contract hooks
    @property
    def num_layers(self) -> int:
        return self.depth + 2

    def stem_modules(self) -> List[nn.Module]:
        return [self.patch_embed]

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.layers[index]]

    def layer_depth_of(self, name: str) -> int:
        parts = name.split('.')
        if parts[0] == 'patch_embed':
            return 0
        if parts[0] == 'layers':
            return int(parts[1]) + 1
        if parts[0].startswith('norm') and parts[0][4:].isdigit():
            return int(parts[0][4:]) + 1
        return self.num_layers - 1

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self.check_input(x)
        x, grid = maybe_checkpoint(self.patch_embed, x, with_cp=self.with_cp)
        x = self.pos_drop(x)
        outs = []
        for i, layer in enumerate(self.layers[:max(self.out_indices) + 1]):
            x = maybe_checkpoint(layer, x, with_cp=layer.with_cp)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                if self.out_type == 'cls_token':
                    outs.append(out[:, 0])
                else:
                    b, _, c = out.shape
                    outs.append(out[:, 1:].transpose(1, 2).reshape(b, c, grid[0], grid[1]))
        return tuple(outs)

    @torch.no_grad()
    def attention_maps(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Run ``x`` through the backbone and return every layer's softmax attention weights.

        Returns:
            list[Tensor]: one ``(B, heads, 1 + gh*gw, 1 + gh*gw)`` tensor per layer (token 0 is the
            class token); the grid is ``ceil(H/s), ceil(W/s)``.
        """
        attns = [layer.attn for layer in self.layers]
        try:
            for attn in attns:
                attn.keep_attention = True
            self.forward(x)
            return [attn.attention_weights for attn in attns]
        finally:
            for attn in attns:
                attn.keep_attention = False
                attn.attention_weights = None
