"""GroupMixFormer: Advancing Vision Transformers with Group-Mix Attention (Ge et al., 2023, arXiv:2311.15157).

Group-Mix Attention (GMA) computes correlations between tokens *and* between groups of tokens: the
query, key and value projections are split into five channel segments. Segment 0 is kept per token
(identity), segments 1-3 are aggregated over 3x3, 5x5 and 7x7 neighbourhoods by depthwise-separable
convs (token-to-group and group-to-group correlations once attended), and all four feed an efficient
attention (softmax over the keys, ``q (softmax(k)^T v)``) with a convolutional relative position
encoding (CRPE). Segment 4 of q, k and v skips attention: a separable conv mixes it locally (the
non-attention branch) and it is concatenated to the attention output before the projection.

Layout of this implementation (tokens ``(B, H*W, C)`` between blocks; the convs run on channels-last
NCHW *views* of them, so no copies in or out)::

    stem                     two 3x3 stride-2 convs, each with a norm and Hardswish (stride 4)
    stages[i].patch_embed    separable 3x3 conv (stride 1 in stage 0, 2 after), norm, Hardswish
    stages[i].blocks[j]      GroupMixBlock: residual depthwise conv position encoding, then
                             pre-norm Group-Mix Attention and MLP
    norm{i}                  output norm (BatchNorm by default) of every stage in ``out_indices``

The official classifier normalises the last map with a BatchNorm (``norm4``) *before* global average
pooling: that is ``norm3`` here, so mmpretrain's ``GlobalAveragePooling`` + ``LinearClsHead`` reproduce
its logits. Every norm of the convolutional parts (``norm_cfg``) is BatchNorm by default, SyncBN through
the config (the official model hard-codes SyncBN).

Any input size works: the official model assumes ``H // 2`` after its stride-2 convs, which produce
``ceil(H / 2)``, so it only runs when the sizes stay even. Here every stage takes its size from the
conv output; where the official model runs, the numbers are the same.

One forward for training and inference, written for graph capture and low precision: the three
aggregators run as one depthwise conv (the 3x3 and 5x5 kernels zero-padded to 7x7) and one grouped
pointwise conv, the CRPE's three depthwise convs as one, ``softmax(k)^T v`` through
``F.scaled_dot_product_attention`` (identity queries: ``softmax(I k^T) v``), and ``q (scale context)
+ q * crpe`` as one ``baddbmm`` on the tokens with the per-head contexts as a block-diagonal matrix (no
head transposes). :meth:`GroupMixFormer.fuse` folds the BatchNorms into the convs and the qkv projection
for deployment.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from timm.layers import use_fused_attn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_weights

from .base import BaseBackbone
from .layers import Mlp, fused_kernel_pays, maybe_checkpoint
from .registry import MODELS

__all__ = ['GroupMixFormer']

Size = Tuple[int, int]

# Number of channel segments the q, k and v projections are split into: identity, three conv
# aggregators (3x3, 5x5, 7x7) and the non-attention branch.
NUM_SEGMENTS = 5
AGGREGATOR_KERNELS = (3, 5, 7)


def _channels_last_map(tokens: torch.Tensor, size: Size) -> torch.Tensor:
    """``(B, H*W, C)`` tokens as a ``(B, C, H, W)`` view in the channels_last memory format (no copy)."""
    b, _, c = tokens.shape
    return tokens.view(b, size[0], size[1], c).permute(0, 3, 1, 2)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` map as ``(B, H*W, C)`` tokens (a view when the map is channels_last)."""
    b, c = x.shape[:2]
    return x.permute(0, 2, 3, 1).reshape(b, -1, c)


def _merged_depthwise(convs: Sequence[nn.Conv2d]) -> Tuple[torch.Tensor, Optional[torch.Tensor], int]:
    """Depthwise convs of different odd kernel sizes as one: ``(weight, bias, padding)``, the smaller
    kernels zero-padded to the largest (the same sums)."""
    largest = max(conv.kernel_size[0] for conv in convs)
    weight = torch.cat([F.pad(conv.weight, [(largest - conv.kernel_size[0]) // 2] * 4) for conv in convs])
    bias = None if convs[0].bias is None else torch.cat([conv.bias for conv in convs])
    return weight, bias, largest // 2


def _grouped_depthwise(x: torch.Tensor, convs: Sequence[nn.Conv2d]) -> List[torch.Tensor]:
    """Depthwise ``convs`` (odd kernels, ``k // 2`` padding) over consecutive channel groups of ``x``; one
    output per group.

    Without autograd they run as one conv with the largest kernel (:func:`_merged_depthwise`): one call
    instead of three, faster. With autograd each runs on its own: a depthwise conv's backward pass costs in
    proportion to its kernel area, so the merged 7x7 kernels make it 25-30% slower (torch 2.13, CPU)."""
    groups = [conv.in_channels for conv in convs]
    if torch.is_grad_enabled() and (x.requires_grad or any(conv.weight.requires_grad for conv in convs)):
        return [conv(part) for conv, part in zip(convs, x.split(groups, 1))]
    weight, bias, padding = _merged_depthwise(convs)
    return list(F.conv2d(x, weight, bias, 1, padding, 1, weight.shape[0]).split(groups, 1))


def _fold_bn(conv: nn.Conv2d, norm: nn.Module) -> Tuple[nn.Conv2d, nn.Module]:
    """``(conv, norm)`` with an eval-mode BatchNorm folded into the conv (norm then the identity)."""
    if not isinstance(norm, _BatchNorm):
        return conv, norm
    return fuse_conv_bn_eval(conv, norm), nn.Identity()


class SeparableConv2d(nn.Module):
    """Depthwise ``k x k`` conv then pointwise 1x1 conv, both without bias. (timm's and mmcv's separable
    convs name their parts ``conv_dw``/``conv_pw`` and ``depthwise_conv.conv``, not the official keys.)"""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ConvNormAct(nn.Module):
    """``hardswish(norm(conv(x)))`` with a 3x3 stride-2 conv (with bias): one half of the stem. (timm's
    ``ConvNormAct`` and mmcv's ``ConvModule`` name the norm ``bn``, not the official ``norm``.)"""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Dict):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))

    def fuse(self) -> None:
        self.conv, self.norm = _fold_bn(self.conv, self.norm)


class PatchEmbed(nn.Module):
    """Separable 3x3 conv (stride 1 or 2), norm, Hardswish; NCHW in, ``(B, N, C)`` tokens and size out."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm_cfg: Dict):
        super().__init__()
        self.conv = SeparableConv2d(in_channels, out_channels, 3, stride)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size]:
        x = self.act(self.norm(self.conv(x)))
        # The size comes from the conv (ceil(H / stride)); the official model assumes H // stride.
        # Channels_last maps give contiguous tokens without a copy.
        return _tokens(x).contiguous(), (x.shape[2], x.shape[3])

    def fuse(self) -> None:
        self.conv.pointwise, self.norm = _fold_bn(self.conv.pointwise, self.norm)


class SegmentAggregator(nn.Module):
    """Group aggregation of one segment: separable ``k x k`` conv then norm (the Hardswish, shared by
    all segments, is :attr:`GroupMixAttention.act`). :meth:`GroupMixAttention.aggregate` runs the three
    aggregators of a block together."""

    def __init__(self, channels: int, kernel_size: int, norm_cfg: Dict):
        super().__init__()
        self.conv = SeparableConv2d(channels, channels, kernel_size)
        self.norm = build_norm_layer(norm_cfg, channels)[1]

    def fuse(self) -> None:
        self.conv.pointwise, self.norm = _fold_bn(self.conv.pointwise, self.norm)


class LocalBranch(nn.Module):
    """The non-attention branch: segment 4 of q, k and v (concatenated) through a separable 3x3 conv
    down to one segment, then LayerNorm (eps 1e-5, unlike the blocks' 1e-6) and Hardswish, as tokens."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = SeparableConv2d(3 * channels, channels, 3)
        self.norm = nn.LayerNorm(channels, eps=1e-5)
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(_tokens(self.conv(x))))


class ConvRelPosEnc(nn.Module):
    """Convolutional relative position encoding ``q * dwconv(v)`` (the product with ``q`` is the caller's).

    Heads are split between depthwise convs of different kernel sizes (``((3, 2), (5, 3), (7, 3))``:
    two heads with 3x3, three with 5x5, three with 7x7); they run together (:func:`_grouped_depthwise`).

    Args:
        head_dim (int): channels per head.
        windows (Sequence[tuple[int, int]]): ``(kernel size, number of heads)`` pairs.
    """

    def __init__(self, head_dim: int, windows: Sequence[Tuple[int, int]]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(h * head_dim, h * head_dim, k, padding=k // 2, groups=h * head_dim) for k, h in windows)

    def forward(self, v: torch.Tensor, size: Size) -> torch.Tensor:
        """Depthwise convs of ``(B, N, C)`` value tokens of a ``size`` map; ``(B, N, C)`` out."""
        return _tokens(torch.cat(_grouped_depthwise(_channels_last_map(v, size), self.convs), dim=1))


class GroupMixAttention(nn.Module):
    """Group-Mix Attention on ``(B, N, C)`` tokens of an ``H x W`` map.

    Args:
        dim (int): channels; must split into 5 equal segments whose first four divide into the heads.
        num_heads (int): heads of the efficient attention (over 4/5 of the channels).
        qkv_bias (bool): bias of the qkv projection.
        proj_drop (float): dropout after the output projection.
        crpe_windows (Sequence[tuple[int, int]]): CRPE ``(kernel size, heads)`` pairs.
        norm_cfg (dict): norm of the identity segment and of the segment aggregators.

    ``fused_attn`` (timm's ``use_fused_attn()``, True by default; ``set_fused_attention`` of the model
    switches it) computes ``softmax(k)^T v`` with ``F.scaled_dot_product_attention`` where that is the
    faster kernel (:func:`~backbones.layers.fused_kernel_pays`); False with an explicit softmax and product
    (the same numbers to float round-off).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 8,
                 qkv_bias: bool = True,
                 proj_drop: float = 0.,
                 crpe_windows: Sequence[Tuple[int, int]] = ((3, 2), (5, 3), (7, 3)),
                 norm_cfg: Dict = dict(type='BN')):
        super().__init__()
        segment = dim // NUM_SEGMENTS
        attn_dim = dim - segment
        if segment * NUM_SEGMENTS != dim or attn_dim % num_heads:
            raise ValueError(f'GroupMixAttention: dim {dim} must be a multiple of {NUM_SEGMENTS} whose '
                             f'4/5 ({attn_dim}) divides into {num_heads} heads')
        if sum(h for _, h in crpe_windows) != num_heads:
            raise ValueError(f'GroupMixAttention: CRPE windows {tuple(crpe_windows)} do not cover '
                             f'{num_heads} heads')
        self.dim = dim
        self.num_heads = num_heads
        self.segment = segment
        self.head_dim = attn_dim // num_heads
        # As in the official model, the scale is computed from the full width (dim // heads), not from
        # the attended channels per head.
        self.scale = (dim // num_heads)**-0.5
        self.fused_attn = use_fused_attn()

        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.identity_norm = build_norm_layer(norm_cfg, segment)[1]
        self.aggregators = nn.ModuleList(SegmentAggregator(segment, k, norm_cfg) for k in AGGREGATOR_KERNELS)
        self.act = nn.Hardswish()  # of the identity segment and the aggregators
        self.local_branch = LocalBranch(segment)
        self.crpe = ConvRelPosEnc(self.head_dim, crpe_windows)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def aggregate(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Segments 1-3 of a ``(3B, 3*seg, H, W)`` map through their aggregators (norms included, act
        not): the three depthwise convs together (:func:`_grouped_depthwise`), then each pointwise conv and
        norm (separate convs give the norms contiguous maps: BatchNorm on channel slices is slow)."""
        parts = _grouped_depthwise(x, [agg.conv.depthwise for agg in self.aggregators])
        return [agg.norm(agg.conv.pointwise(part)) for agg, part in zip(self.aggregators, parts)]

    def context(self, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``softmax_tokens(k)^T v`` per head: ``(B, heads, N, d)`` in, ``(B, heads, d, d)`` out."""
        if self.fused_attn and fused_kernel_pays(k, v):
            # softmax(I k^T) v with I the d x d identity as queries: row i is softmax over the tokens of
            # channel i of k, times v. SDPA fuses the softmax and keeps it in float32 under autocast.
            eye = torch.eye(k.shape[-1], dtype=k.dtype, device=k.device).expand(*k.shape[:2], -1, -1)
            return F.scaled_dot_product_attention(eye, k, v, scale=1.0)
        return k.softmax(dim=2).transpose(-2, -1) @ v

    def forward(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        """Attention of ``(B, N, C)`` tokens of a ``size`` map, output projection included."""
        b, n, c = x.shape
        h, w = size
        seg, heads, head_dim = self.segment, self.num_heads, self.head_dim
        attn_dim = c - seg
        qkv = self.qkv(x).view(b, n, 3, c)
        # Segments 0-3 of q, k and v go through the norms and aggregators as one batch of 3B
        # channels_last maps, as in the official model, so that BatchNorm statistics pool over them.
        # (The identity segment is copied on its own: BatchNorm on a channel slice is slow.)
        identity, grouped = (_channels_last_map(qkv[..., start:end].permute(2, 0, 1, 3).reshape(3 * b, n, end - start),
                                                size) for start, end in ((0, seg), (seg, attn_dim)))
        mixed = torch.cat([self.identity_norm(identity), *self.aggregate(grouped)], dim=1)
        q, k, v = _tokens(self.act(mixed)).view(3, b, n, attn_dim).unbind(0)

        def per_head(t):  # (B, heads, N, d) view
            return t.view(b, n, heads, head_dim).transpose(1, 2)

        # q (scale context) with the heads' contexts as one block-diagonal matrix: a product on the
        # tokens as they are, no head transposes.
        context = self.context(per_head(k), per_head(v))
        block_diagonal = torch.eye(heads, dtype=context.dtype, device=context.device) * self.scale
        context = (context.unsqueeze(3) * block_diagonal.view(1, heads, 1, heads, 1)).reshape(b, attn_dim, attn_dim)
        out = torch.baddbmm(q * self.crpe(v, size), q, context)
        # Segment 4: the non-attention branch, q, k and v side by side as channels.
        local = qkv[..., attn_dim:].reshape(b, h, w, 3 * seg).permute(0, 3, 1, 2)
        out = torch.cat([out, self.local_branch(local)], dim=-1)
        return self.proj_drop(self.proj(out))

    def fuse(self) -> None:
        """Fold the identity segment's BatchNorm into the qkv projection and the aggregators' into
        their pointwise convs (eval mode)."""
        for agg in self.aggregators:
            agg.fuse()
        norm = self.identity_norm
        if not isinstance(norm, _BatchNorm):
            return
        c, seg = self.dim, self.segment
        weight = self.qkv.weight.detach().clone().view(3, NUM_SEGMENTS, seg, c)
        bias = (torch.zeros(3 * c, dtype=weight.dtype, device=weight.device) if self.qkv.bias is None
                else self.qkv.bias.detach().clone()).view(3, NUM_SEGMENTS, seg)
        for i in range(3):  # q, k and v share the norm
            weight[i, 0], bias[i, 0] = fuse_linear_bn_weights(weight[i, 0], bias[i, 0], norm.running_mean,
                                                              norm.running_var, norm.eps, norm.weight, norm.bias)
        fused = nn.Linear(c, 3 * c, device=weight.device, dtype=weight.dtype)
        fused.weight, fused.bias = nn.Parameter(weight.view(3 * c, c)), nn.Parameter(bias.view(3 * c))
        self.qkv, self.identity_norm = fused, nn.Identity()


class GroupMixBlock(nn.Module):
    """``x = x + cpe(x); x = x + attn(norm1(x)); x = x + mlp(norm2(x))`` on ``(B, N, C)`` tokens.

    The conv position encoding is a residual depthwise 3x3 conv (with bias).
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 drop_path: float = 0.,
                 crpe_windows: Sequence[Tuple[int, int]] = ((3, 2), (5, 3), (7, 3)),
                 norm_cfg: Dict = dict(type='BN')):
        super().__init__()
        self.cpe = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = GroupMixAttention(dim, num_heads, qkv_bias, drop, crpe_windows, norm_cfg)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        x = x + _tokens(self.cpe(_channels_last_map(x, size)))
        x = x + self.drop_path(self.attn(self.norm1(x), size))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class GroupMixStage(nn.Module):
    """Patch embedding, then blocks; NCHW in, NCHW out (a channels_last view of the blocks' tokens)."""

    def __init__(self, in_channels: int, dim: int, depth: int, stride: int, block_kwargs: Dict,
                 drop_paths: Sequence[float], norm_cfg: Dict):
        super().__init__()
        self.with_cp = False  # gradient checkpointing of the patch embedding and every block
        self.patch_embed = PatchEmbed(in_channels, dim, stride, norm_cfg)
        self.blocks = nn.ModuleList(
            GroupMixBlock(dim, drop_path=drop_paths[j], norm_cfg=norm_cfg, **block_kwargs) for j in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, size = maybe_checkpoint(self.patch_embed, x, with_cp=self.with_cp)
        for block in self.blocks:
            x = maybe_checkpoint(block, x, size, with_cp=self.with_cp)
        return _channels_last_map(x, size)


@MODELS.register_module()
class GroupMixFormer(BaseBackbone):
    """GroupMixFormer backbone (``type='backbones.GroupMixFormer'``).

    Args:
        arch (str | dict): ``m, t, s, b, l`` (also ``mini``/``miny``, ``tiny``, ``small``, ``base``,
            ``large``) or a dict with ``embed_dims, depths, mlp_ratios`` and optionally ``num_heads``
            (8), ``crpe_windows`` and ``drop_path_rate``.
        in_channels (int): image channels.
        drop_path_rate (float, optional): stochastic depth, linearly increasing over all blocks;
            defaults to the arch's ImageNet value.
        drop_rate (float): dropout after the attention projection and in the MLP.
        qkv_bias (bool): bias of the qkv projections.
        norm_cfg (dict): norm of the stem, patch embeddings, segment aggregators and output norms,
            ``dict(type='BN')`` by default; ``dict(type='SyncBN')`` for multi-GPU training as the
            official model.
        out_indices, frozen_stages, norm_eval, with_cp, cp_stages, init_cfg: see :class:`BaseBackbone`.

    Returns (forward):
        tuple[Tensor]: for each ``i`` in ``out_indices``, stage ``i``'s output through ``norm{i}``,
        NCHW at stride ``4 * 2**i`` (size ``ceil(H / stride)``).
    """

    arch_zoo = {
        'm': dict(embed_dims=(40, 80, 160, 160), depths=(3, 3, 12, 4), mlp_ratios=(4, 4, 4, 4), drop_path_rate=0.1),
        't': dict(embed_dims=(80, 160, 200, 240), depths=(4, 4, 12, 4), mlp_ratios=(4, 4, 4, 4), drop_path_rate=0.1),
        's': dict(embed_dims=(80, 160, 320, 320), depths=(2, 4, 12, 4), mlp_ratios=(4, 4, 4, 4), drop_path_rate=0.2),
        'b': dict(embed_dims=(200, 240, 320, 480), depths=(8, 8, 12, 8), mlp_ratios=(2, 2, 4, 4), drop_path_rate=0.5),
        # The official config marks this drop path rate "need to adjust".
        'l': dict(embed_dims=(240, 320, 360, 480), depths=(8, 10, 30, 10), mlp_ratios=(4, 4, 2, 2),
                  drop_path_rate=0.1),
    }
    arch_aliases = {'mini': 'm', 'miny': 'm', 'tiny': 't', 'small': 's', 'base': 'b', 'large': 'l'}
    arch_keys = ('embed_dims', 'depths', 'mlp_ratios')
    stem_name = 'stem'
    arch_defaults = dict(num_heads=8, crpe_windows=((3, 2), (5, 3), (7, 3)), drop_path_rate=0.1)

    def __init__(self,
                 arch='s',
                 in_channels: int = 3,
                 drop_path_rate: Optional[float] = None,
                 drop_rate: float = 0.,
                 qkv_bias: bool = True,
                 norm_cfg: Dict = dict(type='BN'),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 cp_stages: Optional[int] = None,
                 init_cfg=None):
        super().__init__(arch, out_indices, frozen_stages, norm_eval, with_cp, init_cfg, in_channels,
                         cp_stages)
        settings = self.arch_settings
        dims = tuple(int(d) for d in settings['embed_dims'])
        depths = tuple(int(d) for d in settings['depths'])
        ratios = tuple(settings['mlp_ratios'])
        if not len(dims) == len(depths) == len(ratios) == 4:
            raise ValueError(f'GroupMixFormer: embed_dims, depths and mlp_ratios need 4 entries each, got '
                             f'{dims}, {depths} and {ratios}')
        if dims[0] % 2:
            raise ValueError(f'GroupMixFormer: embed_dims[0] must be even (the stem halves it), got {dims[0]}')
        heads = int(settings['num_heads'])
        for i, dim in enumerate(dims):
            if dim % NUM_SEGMENTS or (dim - dim // NUM_SEGMENTS) % heads:
                raise ValueError(f'GroupMixFormer: embed_dims[{i}]={dim} must be a multiple of {NUM_SEGMENTS} whose '
                                 f'4/5 divides into num_heads={heads} heads')
        crpe_windows = tuple((int(k), int(h)) for k, h in settings['crpe_windows'])
        if sum(h for _, h in crpe_windows) != heads or any(k % 2 == 0 for k, _ in crpe_windows):
            raise ValueError(f'GroupMixFormer: crpe_windows {crpe_windows} must be (odd kernel, heads) pairs '
                             f'whose heads add up to num_heads={heads}')
        drop_path_rate = settings['drop_path_rate'] if drop_path_rate is None else drop_path_rate
        self.embed_dims = dims

        self.stem = nn.Sequential(ConvNormAct(in_channels, dims[0] // 2, norm_cfg),
                                  ConvNormAct(dims[0] // 2, dims[0], norm_cfg))
        drop_paths = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            block_kwargs = dict(num_heads=settings['num_heads'], mlp_ratio=ratios[i], qkv_bias=qkv_bias,
                                drop=drop_rate, crpe_windows=crpe_windows)
            start = sum(depths[:i])
            self.stages.append(
                GroupMixStage(dims[max(i - 1, 0)], dims[i], depths[i], 1 if i == 0 else 2, block_kwargs,
                              drop_paths[start:start + depths[i]], norm_cfg))
        self.feature_info = [dict(num_chs=dims[i], reduction=4 * 2**i, module=f'stages.{i}') for i in range(4)]
        self._build_out_norms(lambda channels: build_norm_layer(norm_cfg, channels)[1])
        self.apply(self.init_linear_weights)
        self.set_grad_checkpointing(with_cp, cp_stages)

    def fuse(self) -> 'GroupMixFormer':
        """Fold every BatchNorm that follows a conv or the qkv projection into it, for deployment.

        Eval mode only (the running statistics are folded); the stem, patch embeddings, identity
        segments and aggregators then run without norms, with the same outputs to float round-off.
        The output norms ``norm{i}`` (after a residual sum) stay. The folded model is for inference:
        training it would no longer normalise with batch statistics. Returns the model.
        """
        if self.training:
            raise RuntimeError('GroupMixFormer.fuse() folds the BatchNorm running statistics: call model.eval() '
                               'first')
        for module in list(self.modules()):
            if isinstance(module, (ConvNormAct, PatchEmbed, GroupMixAttention)):
                module.fuse()
        return self

    def stem_modules(self) -> List[nn.Module]:
        return [self.stem]

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.stages[index]]

    def stage_part_depth(self, stage: int, part: str) -> int:
        return sum(self.arch_settings['depths'][:stage]) + 1  # patch embedding: with the stage's first block

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self.check_input(x)
        # Every conv runs on channels_last maps: tokens and maps are views of each other.
        x = maybe_checkpoint(self.stem, x.contiguous(memory_format=torch.channels_last), with_cp=self.with_cp)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x).contiguous())
        return tuple(outs)
