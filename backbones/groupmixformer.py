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

In eval mode with BatchNorm and without autograd (``fuse_eval=True``), the model runs a
re-parameterised form that gives the same numbers to float round-off (see
:meth:`GroupMixAttention._forward_fused`): BatchNorms are folded into the linears and convs, each
segment's projections are computed directly in the layout its conv needs, 1x1 convs are matrix
products on the tokens, and the attention works on contiguous groups of whole heads without transposes.
Residuals are added in place, large maps go through the attention a few images at a time and through
the MLP in cache-sized chunks of tokens (fresh large buffers cost page faults), and on CPU the larger
linears go through oneDNN with the bias and GELU fused in and weights packed in its blocked layout. The
folded and packed weights are cached per module and rebuilt whenever a parameter or buffer changes (its
version counter, identity or storage),
so in-place updates (EMA, ``load_state_dict``) and swapped parameters are always seen; only writes
through ``.data``, which bypass version counting, need a ``model.train()``/``model.eval()`` call to
be seen.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from torch.nn.modules.batchnorm import _BatchNorm

from .base import BaseBackbone
from .layers import Mlp
from .registry import MODELS

__all__ = ['GroupMixFormer']

Size = Tuple[int, int]

# Number of channel segments the q, k and v projections are split into: identity, three conv
# aggregators (3x3, 5x5, 7x7) and the non-attention branch.
NUM_SEGMENTS = 5
AGGREGATOR_KERNELS = (3, 5, 7)
# Channels the fused eval path processes together (at least): reductions over the tokens of a
# ``(B, N, channels)`` tensor vectorise over the channels.
FUSED_GROUP_WIDTH = 32
# Inference runs the MLP on chunks of tokens with about this many hidden activations (a cache's
# worth), but at least MIN_CHUNK_ROWS tokens (smaller products run below BLAS peak).
MLP_CHUNK = 2**20
MIN_CHUNK_ROWS = 2048
# Inference runs the attention on as many images at a time as fit in this many bytes of tokens.
ATTENTION_CHUNK = 8 * 2**20
# oneDNN's linear has a larger fixed cost than MKL's: it pays off from about this many outputs.
ONEDNN_MIN_OUTPUTS = 2**17
# Rows the packed (oneDNN-reordered) weights are laid out for; any number of rows works.
PACKED_ROWS = 2048


_ONEDNN_LINEAR = []  # [op or None], probed on first use
_ONEDNN_PACKING = []  # [op or None], probed on first use


def _onednn_linear():
    """oneDNN's linear with fused bias and GELU (``torch.ops.mkldnn._linear_pointwise``, what
    ``torch.compile`` uses on CPU) if this torch build has it and it gives F.linear's numbers."""
    if not _ONEDNN_LINEAR:
        op = None
        try:
            if torch.backends.mkldnn.is_available():
                candidate = torch.ops.mkldnn._linear_pointwise
                x, w, b = torch.randn(5, 3), torch.randn(4, 3), torch.randn(4)
                with torch.no_grad():
                    if (torch.allclose(candidate(x, w, b, 'none', [], ''), F.linear(x, w, b), atol=1e-5)
                            and torch.allclose(candidate(x, w, b, 'gelu', [], 'none'), F.gelu(F.linear(x, w, b)),
                                               atol=1e-5)):
                        op = candidate
        except (AttributeError, RuntimeError):
            op = None
        _ONEDNN_LINEAR.append(op)
    return _ONEDNN_LINEAR[0]


def _onednn_weight_packing():
    """oneDNN's weight reordering for its linear (``torch.ops.mkldnn._reorder_linear_weight``, what
    ``torch.compile`` with freezing uses on CPU) if this build has it and the packed weights give
    F.linear's numbers."""
    if not _ONEDNN_PACKING:
        op, linear = None, _onednn_linear()
        try:
            if linear is not None:
                candidate = torch.ops.mkldnn._reorder_linear_weight
                x, w, b = torch.randn(5, 3), torch.randn(4, 3), torch.randn(4)
                with torch.no_grad():
                    if torch.allclose(linear(x, candidate(w, PACKED_ROWS), b, 'none', [], ''), F.linear(x, w, b),
                                      atol=1e-5):
                        op = candidate
        except (AttributeError, RuntimeError):
            op = None
        _ONEDNN_PACKING.append(op)
    return _ONEDNN_PACKING[0]


def _use_onednn(x: torch.Tensor, out_features: int) -> bool:
    return (not torch.is_grad_enabled() and x.device.type == 'cpu' and x.dtype == torch.float32
            and x.numel() // x.shape[-1] * out_features >= ONEDNN_MIN_OUTPUTS and _onednn_linear() is not None)


def _pack_linear_weight(weight: torch.Tensor) -> Optional[torch.Tensor]:
    """``weight`` reordered into oneDNN's blocked layout (an opaque tensor only :func:`_linear` reads),
    or None where oneDNN's linear is not used (autograd, not CPU float32, no oneDNN)."""
    if torch.is_grad_enabled() or weight.device.type != 'cpu' or weight.dtype != torch.float32:
        return None
    pack = _onednn_weight_packing()
    return None if pack is None else pack(weight.detach().contiguous(), PACKED_ROWS)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor] = None,
            gelu: bool = False, packed: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``F.linear`` (then exact GELU if ``gelu``); without autograd on CPU float32 and for large enough
    products, through oneDNN with the bias and GELU fused in (fewer passes over memory, same numbers),
    with ``packed`` (:func:`_pack_linear_weight` of ``weight``) if given: no reordering per call."""
    if _use_onednn(x, weight.shape[0]):
        weight = weight.contiguous() if packed is None else packed
        return _onednn_linear()(x.contiguous(), weight, bias, 'gelu' if gelu else 'none', [],
                                'none' if gelu else '')
    x = F.linear(x, weight, bias)
    return F.gelu(x) if gelu else x


class _DerivedWeights:
    """Inference weights derived from a module's parameters and buffers (folded norms, packed
    matrices), rebuilt when any of them changes: in place (its version counter moves) or replaced (its
    identity or storage does). Never copied or pickled with the model: a copy starts empty."""

    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.key, self.value, self.tensors = None, None, None

    def get(self, source: nn.Module, build):
        tensors, stack = [], [source]
        while stack:  # a plain walk over the parameters and buffers, cheaper than parameters()
            module = stack.pop()
            tensors += [t for t in module._parameters.values() if t is not None]
            tensors += [t for t in module._buffers.values() if t is not None]
            stack += [m for m in module._modules.values() if m is not None]
        key = tuple((id(t), t._version, t.data_ptr()) for t in tensors)
        if self.value is None or self.key != key:
            self.value = build()
            # the tensors are held so that their ids stay unique while they are part of the key
            self.key, self.tensors = key, tensors
        return self.value

    def __deepcopy__(self, memo) -> '_DerivedWeights':
        return _DerivedWeights()

    def __getstate__(self) -> Dict:
        return {}

    def __setstate__(self, state: Dict) -> None:
        self.clear()


def _bn_scale_shift(norm: _BatchNorm) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` with ``norm(x) == x * scale + shift`` for an eval-mode BatchNorm."""
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    return scale, shift


def _uses_running_stats(norm: nn.Module) -> bool:
    """Whether ``norm`` is a BatchNorm that currently normalises with its running statistics."""
    return (isinstance(norm, _BatchNorm) and not norm.training and norm.running_mean is not None
            and norm.running_var is not None)


def _channels_last_map(tokens: torch.Tensor, size: Size) -> torch.Tensor:
    """``(B, H*W, C)`` tokens as a ``(B, C, H, W)`` view in the channels_last memory format (no copy)."""
    b, _, c = tokens.shape
    return tokens.view(b, size[0], size[1], c).permute(0, 3, 1, 2)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, H, W)`` map as ``(B, H*W, C)`` tokens (a view when the map is channels_last)."""
    b, c = x.shape[:2]
    return x.permute(0, 2, 3, 1).reshape(b, -1, c)


class SeparableConv2d(nn.Module):
    """Depthwise ``k x k`` conv then pointwise 1x1 conv, both without bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, kernel_size // 2,
                                   groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def _conv_norm_hardswish(conv: nn.Conv2d, norm: nn.Module, act: nn.Module, x: torch.Tensor,
                         fuse: bool) -> torch.Tensor:
    """``act(norm(conv(x)))``; with ``fuse`` and an eval-mode BatchNorm the norm is folded into the conv
    (same numbers to float round-off) and, without autograd, the Hardswish runs in place."""
    if not (fuse and _uses_running_stats(norm)):
        return act(norm(conv(x)))
    scale, shift = _bn_scale_shift(norm)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    x = F.conv2d(x, conv.weight * scale.view(-1, 1, 1, 1), bias, conv.stride, conv.padding, conv.dilation,
                 conv.groups)
    return F.hardswish(x, inplace=not torch.is_grad_enabled())


class ConvNormAct(nn.Module):
    """``hardswish(norm(conv(x)))`` with a 3x3 stride-2 conv (with bias): one half of the stem."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: Dict, fuse_eval: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, 2, 1)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.Hardswish()
        self.fuse_eval = fuse_eval

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _conv_norm_hardswish(self.conv, self.norm, self.act, x, self.fuse_eval)


class PatchEmbed(nn.Module):
    """Separable 3x3 conv (stride 1 or 2), norm, Hardswish; NCHW in, ``(B, N, C)`` tokens and size out."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm_cfg: Dict, fuse_eval: bool = True):
        super().__init__()
        self.conv = SeparableConv2d(in_channels, out_channels, 3, stride)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = nn.Hardswish()
        self.fuse_eval = fuse_eval

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, Size]:
        x = _conv_norm_hardswish(self.conv.pointwise, self.norm, self.act, self.conv.depthwise(x), self.fuse_eval)
        # The size comes from the conv (ceil(H / stride)); the official model assumes H // stride.
        # Channels_last maps give contiguous tokens without a copy.
        return _tokens(x).contiguous(), (x.shape[2], x.shape[3])


class SegmentAggregator(nn.Module):
    """Group aggregation of one segment: ``hardswish(norm(separable_conv(x)))`` over ``k x k``."""

    def __init__(self, channels: int, kernel_size: int, norm_cfg: Dict):
        super().__init__()
        self.conv = SeparableConv2d(channels, channels, kernel_size)
        self.norm = build_norm_layer(norm_cfg, channels)[1]
        self.act = nn.Hardswish()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(x)))


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
    """Convolutional relative position encoding ``q * dwconv(v)``.

    Heads are split between depthwise convs of different kernel sizes (``((3, 2), (5, 3), (7, 3))``:
    two heads with 3x3, three with 5x5, three with 7x7).

    Args:
        head_dim (int): channels per head.
        windows (Sequence[tuple[int, int]]): ``(kernel size, number of heads)`` pairs.
    """

    def __init__(self, head_dim: int, windows: Sequence[Tuple[int, int]]):
        super().__init__()
        self.kernel_sizes = [int(k) for k, _ in windows]
        self.channel_splits = [int(h) * head_dim for _, h in windows]
        self.convs = nn.ModuleList(
            nn.Conv2d(ch, ch, k, padding=k // 2, groups=ch) for k, ch in zip(self.kernel_sizes, self.channel_splits))

    def conv_values(self, v: torch.Tensor) -> torch.Tensor:
        """Depthwise convs of a ``(B, C, H, W)`` value map, per channel group."""
        groups = v.split(self.channel_splits, dim=1)
        return torch.cat([conv(g) for conv, g in zip(self.convs, groups)], dim=1)

    def chunk_weights(self, chunk: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """The convs as one depthwise conv per ``chunk`` consecutive channels, each with the largest
        kernel among its channels (smaller kernels zero-padded): ``[(weight, bias), ...]``."""
        largest = max(self.kernel_sizes)
        weights = torch.cat([
            F.pad(conv.weight, ((largest - k) // 2, ) * 4) for conv, k in zip(self.convs, self.kernel_sizes)
        ])
        biases = torch.cat([conv.bias for conv in self.convs])
        kernel_of = torch.cat([torch.full((ch, ), k) for k, ch in zip(self.kernel_sizes, self.channel_splits)])
        chunks = []
        for start in range(0, weights.shape[0], chunk):
            k = int(kernel_of[start:start + chunk].max())
            crop = (largest - k) // 2
            chunks.append((weights[start:start + chunk, :, crop:largest - crop, crop:largest - crop],
                           biases[start:start + chunk]))
        return chunks


class GroupMixAttention(nn.Module):
    """Group-Mix Attention on ``(B, N, C)`` tokens of an ``H x W`` map.

    Args:
        dim (int): channels; must split into 5 equal segments whose first four divide into the heads.
        num_heads (int): heads of the efficient attention (over 4/5 of the channels).
        qkv_bias (bool): bias of the qkv projection.
        proj_drop (float): dropout after the output projection.
        crpe_windows (Sequence[tuple[int, int]]): CRPE ``(kernel size, heads)`` pairs.
        norm_cfg (dict): norm of the segment aggregators.
        fuse_eval (bool): use the re-parameterised path in eval mode when the norms are BatchNorms.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 8,
                 qkv_bias: bool = True,
                 proj_drop: float = 0.,
                 crpe_windows: Sequence[Tuple[int, int]] = ((3, 2), (5, 3), (7, 3)),
                 norm_cfg: Dict = dict(type='BN'),
                 fuse_eval: bool = True):
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
        self.fuse_eval = fuse_eval

        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.identity_norm = build_norm_layer(norm_cfg, segment)[1]
        self.identity_act = nn.Hardswish()
        self.aggregators = nn.ModuleList(SegmentAggregator(segment, k, norm_cfg) for k in AGGREGATOR_KERNELS)
        self.local_branch = LocalBranch(segment)
        self.crpe = ConvRelPosEnc(self.head_dim, crpe_windows)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        # The fused path handles the attention channels in groups of `fused_group` segments (whole
        # heads, and wide enough for vectorised reductions over the tokens); softmax(k)^T v is computed
        # for every channel pair of a group, then masked to the pairs within a head.
        self.fused_group = next(g for g in (1, 2, 4) if g * segment >= min(FUSED_GROUP_WIDTH, 4 * segment)
                                and g * segment % self.head_dim == 0)
        self._folded = _DerivedWeights()  # the fused path's weights, see _folded_weights

    def _can_fuse(self, x: torch.Tensor) -> bool:
        return (self.fuse_eval and not self.training and not torch.is_grad_enabled()
                and not torch.is_autocast_enabled(x.device.type) and _uses_running_stats(self.identity_norm)
                and all(_uses_running_stats(agg.norm) for agg in self.aggregators))

    def train(self, mode: bool = True) -> 'GroupMixAttention':
        self._folded.clear()  # rebuilt at the next inference call
        return super().train(mode)

    def forward(self, x: torch.Tensor, size: Size, scratch: Optional[Dict] = None) -> torch.Tensor:
        """Attention of ``(B, N, C)`` tokens of a ``size`` map, output projection included.

        ``scratch`` (a dict kept for one forward pass of the model) lets the fused path reuse its
        large buffers across blocks: fresh allocations that large cost page faults at every call.
        """
        if self._can_fuse(x):
            return self._forward_fused(x, size, scratch)  # dropout is the identity in eval mode
        return self.proj_drop(self.proj(self._forward_modules(x, size)))

    def _forward_modules(self, x: torch.Tensor, size: Size) -> torch.Tensor:
        """The model as trained: every norm is a module call (BatchNorm statistics, SyncBN).

        Returns the input of the output projection.
        """
        b, n, c = x.shape
        h, w = size
        seg, heads, head_dim = self.segment, self.num_heads, self.head_dim
        # q, k and v go through the aggregators as one batch of 3B maps, as in the official model, so
        # that BatchNorm statistics pool over them in training.
        maps = self.qkv(x).view(b, h, w, 3, c).permute(3, 0, 4, 1, 2).reshape(3 * b, c, h, w)
        segments = maps.split(seg, dim=1)
        mixed = [self.identity_act(self.identity_norm(segments[0]))]
        mixed += [agg(s) for agg, s in zip(self.aggregators, segments[1:4])]
        q, k, v = torch.cat(mixed, dim=1).view(3, b, heads, head_dim, n).transpose(-2, -1).unbind(0)
        local = segments[4].reshape(3, b, seg, h, w).transpose(0, 1).reshape(b, 3 * seg, h, w)
        local = self.local_branch(local)

        context = k.softmax(dim=2).transpose(-2, -1) @ v  # (B, heads, head_dim, head_dim)
        v_map = v.transpose(-2, -1).reshape(b, heads * head_dim, h, w)
        pos = self.crpe.conv_values(v_map).view(b, heads, head_dim, n).transpose(-2, -1)
        out = self.scale * (q @ context) + q * pos
        return torch.cat([out.transpose(1, 2).reshape(b, n, c - seg), local], dim=-1)

    def _folded_weights(self) -> Dict[str, object]:
        """The eval-mode weights of the fused path (BatchNorms folded, kernels laid out per segment,
        matrices packed for oneDNN), cached until a parameter or buffer changes or the mode is set."""
        return self._folded.get(self, self._fold_weights)

    def _fold_weights(self) -> Dict[str, object]:
        seg, c, width = self.segment, self.dim, self.fused_group * self.segment
        weight = self.qkv.weight.view(3, NUM_SEGMENTS, seg, c)
        bias = self.qkv.bias if self.qkv.bias is not None else weight.new_zeros(3 * c)
        bias = bias.view(3, NUM_SEGMENTS, seg)
        scale, shift = _bn_scale_shift(self.identity_norm)
        head_of = torch.arange(width, device=weight.device) // self.head_dim
        projections = [weight[:, i].reshape(3 * seg, c).contiguous() for i in range(1, NUM_SEGMENTS)]
        local_pointwise = self.local_branch.conv.pointwise.weight.flatten(1).contiguous()
        folded = dict(
            # identity segment: projection and BatchNorm folded, q/k/v as a batch of (C, seg) factors
            identity=((weight[:, 0] * scale[:, None]).transpose(1, 2), (bias[:, 0] * scale + shift)[:, None]),
            # segments 1-4: the projection to q, k and v side by side (weight, bias, packed weight) and
            # the depthwise kernel on them
            segments=[(w, bias[:, i].reshape(-1).contiguous(), _pack_linear_weight(w))
                      for i, w in enumerate(projections, 1)],
            depthwise=[agg.conv.depthwise.weight.repeat(3, 1, 1, 1) for agg in self.aggregators]
            + [self.local_branch.conv.depthwise.weight],
            pointwise=[],  # aggregators: pointwise conv and BatchNorm folded, the same for q, k and v
            local_pointwise=(local_pointwise, _pack_linear_weight(local_pointwise)),
            proj=_pack_linear_weight(self.proj.weight),
            crpe=self.crpe.chunk_weights(width),
            # keeps the channel pairs of a group that lie within a head, times the attention scale
            head_mask=(head_of[:, None] == head_of[None, :]).to(weight.dtype) * self.scale,
        )
        for agg in self.aggregators:
            scale, shift = _bn_scale_shift(agg.norm)
            pointwise_t = (agg.conv.pointwise.weight.flatten(1) * scale[:, None]).t()
            folded['pointwise'].append((pointwise_t.expand(3, seg, seg), shift.expand(3, 1, seg)))
        return folded

    def _forward_fused(self, x: torch.Tensor, size: Size, scratch: Optional[Dict] = None) -> torch.Tensor:
        """Eval-mode attention without autograd, including the output projection; the same numbers as
        :meth:`_forward_modules` to float round-off.

        No head or channel transposes: every segment's q, k and v are computed side by side as
        ``(B*N, 3*seg)`` tokens (a channels_last map for its depthwise conv, shared by q, k and v), with
        the BatchNorms folded into the projection (identity segment) or the pointwise weights. One
        batched product per segment then writes its q, k and v straight into a ``(3, 4/G, B*N, G*seg)``
        buffer of contiguous token matrices, groups of ``G`` segments (``fused_group``) that hold whole
        heads, and one Hardswish runs over it. ``softmax(k)^T v`` is one batched product per (group,
        image), masked to the heads' diagonal blocks, and ``q * crpe + q @ context`` one ``baddbmm``;
        the CRPE convs run per group with the group's largest kernel.
        """
        b, n, c = x.shape
        seg, m, group = self.segment, b * n, self.fused_group
        width = group * seg
        folded = self._folded_weights()
        tokens = x.reshape(m, c)

        shape = (3, (NUM_SEGMENTS - 1) // group, m, width)  # (q/k/v, group, token, channel)
        qkv = None if scratch is None else scratch.get(('qkv', shape, x.dtype, x.device))
        if qkv is None:
            qkv = x.new_empty(shape)
            if scratch is not None:
                scratch['qkv', shape, x.dtype, x.device] = qkv  # free again when this call returns

        def slots(i: int) -> torch.Tensor:  # segment i of q, k and v in the buffer, (3, B*N, seg)
            start = i % group * seg
            return qkv[:, i // group, :, start:start + seg]

        torch.baddbmm(folded['identity'][1], tokens.expand(3, m, c), folded['identity'][0], out=slots(0))
        for i in range(1, NUM_SEGMENTS - 1):
            mixed = self._segment_conv(tokens, *folded['segments'][i - 1], folded['depthwise'][i - 1], size)
            weight_t, bias = folded['pointwise'][i - 1]
            torch.baddbmm(bias, mixed.view(m, 3, seg).transpose(0, 1), weight_t, out=slots(i))
        F.hardswish(qkv, inplace=True)

        branch = self.local_branch
        local = self._segment_conv(tokens, *folded['segments'][3], folded['depthwise'][3], size)
        pointwise, packed = folded['local_pointwise']
        local = F.layer_norm(_linear(local, pointwise, packed=packed), (seg, ), branch.norm.weight,
                             branch.norm.bias, branch.norm.eps)
        local = F.hardswish(local, inplace=True)

        q, k, v = qkv.view(3, -1, n, width).unbind(0)  # (groups * B, N, G*seg) each
        context = torch.bmm(k.softmax(dim=1).transpose(1, 2), v).mul_(folded['head_mask'])
        pos = [
            _tokens(F.conv2d(_channels_last_map(v_group, size), weight, bias, 1, weight.shape[-1] // 2, 1, width))
            for v_group, (weight, bias) in zip(v.view(-1, b, n, width), folded['crpe'])
        ]
        pos = pos[0].view(b, n, width) if len(pos) == 1 else torch.cat(pos)
        out = pos.mul_(q).baddbmm_(q, context).view(-1, m, width)
        attended = torch.cat([*out.unbind(0), local], dim=1)
        return _linear(attended, self.proj.weight, self.proj.bias, packed=folded['proj']).view(b, n, c)

    @staticmethod
    def _segment_conv(tokens: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                      packed: Optional[torch.Tensor], kernel: torch.Tensor, size: Size) -> torch.Tensor:
        """Project one segment of q, k and v (``weight`` ``(3*seg, C)``, ``packed`` for oneDNN) and
        apply the depthwise ``kernel`` to the three side by side; ``(B*N, 3*seg)`` out."""
        b = tokens.shape[0] // (size[0] * size[1])
        grouped = _linear(tokens, weight, bias, packed=packed)
        grouped = F.conv2d(_channels_last_map(grouped.view(b, -1, weight.shape[0]), size), kernel, None, 1,
                           kernel.shape[-1] // 2, 1, weight.shape[0])
        return _tokens(grouped).reshape(-1, weight.shape[0])


class GroupMixBlock(nn.Module):
    """``x = cpe(x); x = x + attn(norm1(x)); x = x + mlp(norm2(x))`` on ``(B, N, C)`` tokens.

    The conv position encoding is a residual depthwise 3x3 conv (with bias). ``forward(x, size,
    scratch=None)``: ``scratch`` is a dict the model keeps for one pass, in which the fused attention
    keeps its large buffer for the next blocks.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int,
                 mlp_ratio: float,
                 qkv_bias: bool = True,
                 drop: float = 0.,
                 drop_path: float = 0.,
                 crpe_windows: Sequence[Tuple[int, int]] = ((3, 2), (5, 3), (7, 3)),
                 norm_cfg: Dict = dict(type='BN'),
                 fuse_eval: bool = True):
        super().__init__()
        self.cpe = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = GroupMixAttention(dim, num_heads, qkv_bias, drop, crpe_windows, norm_cfg, fuse_eval)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.fuse_eval = fuse_eval
        self._packed_mlp = _DerivedWeights()  # fc1 and fc2 packed for oneDNN, at inference

    def train(self, mode: bool = True) -> 'GroupMixBlock':
        self._packed_mlp.clear()
        return super().train(mode)

    def forward(self, x: torch.Tensor, size: Size, scratch: Optional[Dict] = None) -> torch.Tensor:
        if self.training or torch.is_grad_enabled() or not self.fuse_eval:
            x = x + _tokens(self.cpe(_channels_last_map(x, size)))
            x = x + self.drop_path(self.attn(self.norm1(x), size))
            return x + self.drop_path(self.mlp(self.norm2(x)))
        # Inference: residuals added in place (x + conv(x) as conv(x) + x: the same numbers), and
        # norm2 + MLP run on chunks of tokens whose hidden activations stay in cache.
        x = _tokens(self.cpe(_channels_last_map(x, size))).add_(x)
        # Large maps go through the attention a few images at a time: its temporaries stay small.
        images = max(1, ATTENTION_CHUNK // (x[0].numel() * x.element_size()))
        for part in x.split(images):
            part.add_(self.attn(self.norm1(part), size, scratch))
        rows = max(MIN_CHUNK_ROWS, MLP_CHUNK // self.mlp.fc1.out_features)
        mlp = self.mlp
        exact_gelu = type(mlp.act) is nn.GELU and mlp.act.approximate == 'none'
        if exact_gelu:
            packed_fc1, packed_fc2 = self._packed_mlp.get(
                mlp, lambda: (_pack_linear_weight(mlp.fc1.weight), _pack_linear_weight(mlp.fc2.weight)))
        for part in x.view(-1, x.shape[-1]).split(rows):
            if exact_gelu:
                hidden = _linear(self.norm2(part), mlp.fc1.weight, mlp.fc1.bias, gelu=True, packed=packed_fc1)
                part.add_(_linear(hidden, mlp.fc2.weight, mlp.fc2.bias, packed=packed_fc2))
            else:
                part.add_(mlp(self.norm2(part)))
        return x


class GroupMixStage(nn.Module):
    """Patch embedding, then blocks; NCHW in, ``(B, N, C)`` tokens and their size out."""

    def __init__(self, in_channels: int, dim: int, depth: int, stride: int, block_kwargs: Dict,
                 drop_paths: Sequence[float], norm_cfg: Dict):
        super().__init__()
        self.patch_embed = PatchEmbed(in_channels, dim, stride, norm_cfg, block_kwargs['fuse_eval'])
        self.blocks = nn.ModuleList(
            GroupMixBlock(dim, drop_path=drop_paths[j], norm_cfg=norm_cfg, **block_kwargs) for j in range(depth))


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
        fuse_eval (bool): in eval mode with BatchNorms, run the attention re-parameterised (same
            numbers to float round-off, faster).
        out_indices, frozen_stages, norm_eval, with_cp, init_cfg: see :class:`BaseBackbone`.

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
                 fuse_eval: bool = True,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(arch, out_indices, frozen_stages, norm_eval, with_cp, init_cfg, in_channels)
        settings = {**self.arch_defaults, **self.arch_settings}
        self.arch_settings = settings
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

        self.stem = nn.Sequential(ConvNormAct(in_channels, dims[0] // 2, norm_cfg, fuse_eval),
                                  ConvNormAct(dims[0] // 2, dims[0], norm_cfg, fuse_eval))
        drop_paths = torch.linspace(0, drop_path_rate, sum(depths), device='cpu').tolist()
        self.stages = nn.ModuleList()
        for i in range(4):
            block_kwargs = dict(num_heads=settings['num_heads'], mlp_ratio=ratios[i], qkv_bias=qkv_bias,
                                drop=drop_rate, crpe_windows=crpe_windows, fuse_eval=fuse_eval)
            start = sum(depths[:i])
            self.stages.append(
                GroupMixStage(dims[max(i - 1, 0)], dims[i], depths[i], 1 if i == 0 else 2, block_kwargs,
                              drop_paths[start:start + depths[i]], norm_cfg))
        self._build_out_norms(dims, lambda channels: build_norm_layer(norm_cfg, channels)[1])
        self.feature_info = [
            dict(num_chs=dims[i], reduction=4 * 2**i, module=f'stages.{i}') for i in self.out_indices
        ]
        self.apply(self.init_linear_weights)

    def set_fused_attention(self, enabled: bool = True) -> None:
        """Switch the re-parameterised inference path (see ``fuse_eval``) on or off."""
        for module in self.modules():
            if hasattr(module, 'fuse_eval'):
                module.fuse_eval = enabled

    def stem_modules(self) -> List[nn.Module]:
        return [self.stem]

    def stage_modules(self, index: int) -> List[nn.Module]:
        return [self.stages[index]]

    def stage_part_depth(self, stage: int, part: str) -> int:
        return sum(self.arch_settings['depths'][:stage]) + 1  # patch embedding: with the stage's first block

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        self.check_input(x)
        # Every conv runs on channels_last maps: tokens and maps are views of each other.
        x = self._run(self.stem, x.contiguous(memory_format=torch.channels_last))
        outs = []
        scratch = {}  # large inference buffers, shared by the blocks of this pass
        for i, stage in enumerate(self.stages):
            x, size = self._run(stage.patch_embed, x)
            for block in stage.blocks:
                x = self._run(block, x, size, scratch)
            x = _channels_last_map(x, size)
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x).contiguous())
        return tuple(outs)
