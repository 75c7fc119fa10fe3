"""Building blocks shared by every backbone family.

Window partitioning, padding to a multiple, relative-position bias tables, attention with a fused
(``F.scaled_dot_product_attention``) and a plain path, and activation checkpointing. Each lives here
once; the family files compose them. The MLP and ``to_2tuple`` are timm's (re-exported: same keys
``fc1``/``fc2``, same numbers).
"""
import contextlib
from typing import Iterator, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Mlp, to_2tuple
from torch.utils.checkpoint import checkpoint

__all__ = [
    'attention', 'fused_kernel_pays', 'is_tracing', 'pad_to_multiple', 'window_partition', 'window_reverse',
    'RelativePositionBias', 'resize_relative_position_table', 'Mlp', 'to_2tuple', 'maybe_checkpoint'
]


BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@contextlib.contextmanager
def keep_norm_statistics(module: nn.Module) -> Iterator[None]:
    """Undo, on exit, what running ``module`` in between did to its BatchNorms' running statistics."""
    saved = [(norm, [buffer.clone() for buffer in (norm.running_mean, norm.running_var, norm.num_batches_tracked)])
             for norm in module.modules() if isinstance(norm, BATCH_NORMS) and norm.track_running_stats]
    try:
        yield
    finally:
        with torch.no_grad():
            for norm, buffers in saved:
                for live, kept in zip((norm.running_mean, norm.running_var, norm.num_batches_tracked), buffers):
                    live.copy_(kept)


def maybe_checkpoint(module: nn.Module, *args, with_cp: bool):
    """Run ``module(*args)``, under activation checkpointing when ``with_cp`` is set and gradients are on
    (the stages' ``with_cp`` flag, set by :meth:`BaseBackbone.set_grad_checkpointing`).

    The backward pass runs the module's forward again; a training-mode BatchNorm would then fold the same
    batch into its running statistics a second time, so that recomputation keeps them as they were (its
    outputs use the batch's own statistics either way, so they are the first forward's)."""
    if with_cp and torch.is_grad_enabled():
        return checkpoint(module, *args, use_reentrant=False,
                          context_fn=lambda: (contextlib.nullcontext(), keep_norm_statistics(module)))
    return module(*args)


# Longest key sequence for which CPU training in bf16/fp16 takes the plain path (see fused_kernel_pays).
PLAIN_BACKWARD_MAX_KEYS = 576


def fused_kernel_pays(keys: torch.Tensor, *others: torch.Tensor, bias: Optional[torch.Tensor] = None) -> bool:
    """Whether ``F.scaled_dot_product_attention`` is the faster way to run attention on ``(..., M, D)``
    keys, the ``others`` (queries, values) and an additive ``bias``.

    It is, except when training on the CPU

    * in bfloat16 or float16 with up to :data:`PLAIN_BACKWARD_MAX_KEYS` keys (24x24 windows): there SDPA's
      backward pass is 1.3-7x slower than the explicit product and softmax (torch 2.13, 2 threads; e.g.
      127 ms against 30 ms for the 49-token windows of a first stage at batch 8, 37 against 22 ms for
      ViT-B's 197 tokens), while its forward pass is faster, as are both directions in float32 and at 784
      keys and more;
    * with a bias that needs a gradient (a learned relative-position table): SDPA's CPU kernel takes no
      mask gradient and falls back to its unfused math, which is slower than the plain path.

    Either path gives the same numbers to float round-off, so this is only a choice of kernel; on a GPU
    SDPA is always used.
    """
    inputs = [t for t in (keys, *others, bias) if t is not None]
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs) and keys.device.type == 'cpu'):
        return True
    low_precision = keys.dtype in (torch.bfloat16, torch.float16)
    learned_bias = bias is not None and bias.requires_grad
    return not ((low_precision and keys.shape[-2] <= PLAIN_BACKWARD_MAX_KEYS) or learned_bias)


def attention(q: torch.Tensor,
              k: torch.Tensor,
              v: torch.Tensor,
              bias: Optional[torch.Tensor] = None,
              scale: Optional[float] = None,
              dropout_p: float = 0.,
              fused: bool = True) -> torch.Tensor:
    """Softmax attention ``softmax(q k^T * scale + bias) v`` over the last two dims.

    Args:
        q, k, v (Tensor): ``(..., N, D)`` queries, ``(..., M, D)`` keys and values.
        bias (Tensor, optional): additive bias broadcastable to ``(..., N, M)``.
        scale (float, optional): query scale. Defaults to ``D ** -0.5``.
        dropout_p (float): attention dropout, only applied when > 0.
        fused (bool): use ``F.scaled_dot_product_attention`` where it is the faster kernel (see
            :func:`fused_kernel_pays`); ``False`` takes the plain path, which gives the same numbers to
            float round-off.

    Mixed precision: under float16 autocast the logits are the first thing to overflow (65504). Both
    paths apply ``scale`` *before* the product (SDPA's kernels scale inside with float32 accumulation;
    the plain path multiplies ``q``), which gives ``head_dim ** 0.5`` (8 for 64-wide heads) of headroom
    over ``(q @ k^T) * scale``; the bias is cast to the query dtype, and softmax runs in the logits'
    dtype with float32 accumulation (CPU and CUDA kernels alike), so large logits saturate it to
    one-hot instead of producing ``inf - inf``. bfloat16 has float32's range and needs none of this.
    """
    if fused and fused_kernel_pays(k, q, v, bias=bias):
        if bias is not None:
            bias = bias.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    scale = q.shape[-1]**-0.5 if scale is None else scale
    attn = (q * scale) @ k.transpose(-2, -1)
    if bias is not None:
        attn = attn + bias
    attn = attn.softmax(dim=-1)
    if dropout_p > 0:
        attn = F.dropout(attn, p=dropout_p)
    return attn @ v


def is_tracing() -> bool:
    """True while torch.compile or torch.export traces the model: code then takes shape-independent
    paths (no branch on a size), so one graph serves every input size."""
    return torch.compiler.is_compiling()


def pad_to_multiple(x: torch.Tensor, multiple: Tuple[int, int], channels_last: bool = True) -> torch.Tensor:
    """Zero-pad the bottom and right of a feature map so its H and W divide by ``multiple``.

    Args:
        x (Tensor): ``(B, H, W, C)`` when ``channels_last`` else ``(B, C, H, W)``.
        multiple (tuple[int, int]): the (height, width) multiple.
    """
    h, w = (x.shape[1], x.shape[2]) if channels_last else (x.shape[2], x.shape[3])
    # ceil(h / m) * m - h: written as a product, a symbolic size (torch.compile(dynamic=True), export)
    # stays a simple expression whose windows the later views can split without proving a modulus.
    pad_h = (h + multiple[0] - 1) // multiple[0] * multiple[0] - h
    pad_w = (w + multiple[1] - 1) // multiple[1] * multiple[1] - w
    # Eager skips a no-op pad; a traced graph (torch.compile, torch.export, ONNX) always pads, by a
    # size-dependent amount that may be zero, so it branches on no shape and serves every size.
    if not is_tracing() and pad_h == 0 and pad_w == 0:
        return x
    if channels_last:
        return F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    return F.pad(x, (0, pad_w, 0, pad_h))


def window_partition(x: torch.Tensor, window_size: Tuple[int, int]) -> torch.Tensor:
    """Split ``(B, H, W, C)`` into ``(B * num_windows, wh * ww, C)`` windows, row-major per image.

    H and W must be multiples of the window (see :func:`pad_to_multiple`).
    """
    b, h, w, c = x.shape
    wh, ww = window_size
    x = x.view(b, h // wh, wh, w // ww, ww, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, wh * ww, c)


def window_reverse(windows: torch.Tensor, window_size: Tuple[int, int], hw: Tuple[int, int],
                   crop_hw: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B * num_windows, wh * ww, C)`` to ``(B, H, W, C)``, cropped
    to ``crop_hw`` (the size before :func:`pad_to_multiple`) when given."""
    h, w = hw
    wh, ww = window_size
    c = windows.shape[-1]
    x = windows.view(-1, h // wh, w // ww, wh, ww, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)
    if crop_hw is None:
        return x
    if not is_tracing():
        return x[:, :crop_hw[0], :crop_hw[1]]
    # Traced: crop by a negative pad, whose output is a new tensor: a slice would make later ops ask
    # whether the crop was a no-op (a guard on the size, another graph for every other padding).
    return F.pad(x, (0, 0, 0, crop_hw[1] - w, 0, crop_hw[0] - h))


def resize_relative_position_table(table: torch.Tensor, window_size: Tuple[int, int]) -> torch.Tensor:
    """Bicubic-resize a ``((2*wh_old-1) * (2*ww_old-1), heads)`` table to another window.

    The old table must be square (as all released checkpoints are); the new window may be any pair.
    """
    length, heads = table.shape
    old = int(round(length**0.5))
    if old * old != length:
        raise ValueError(f'cannot resize a non-square relative position table of {length} rows')
    new_h, new_w = 2 * window_size[0] - 1, 2 * window_size[1] - 1
    if (new_h, new_w) == (old, old):
        return table
    grid = table.t().reshape(1, heads, old, old).float()
    grid = F.interpolate(grid, size=(new_h, new_w), mode='bicubic', align_corners=False)
    return grid.reshape(heads, new_h * new_w).t().to(table.dtype)


class RelativePositionBias(nn.Module):
    """Learned relative-position bias for attention inside a window (Swin style).

    The table ``relative_position_bias_table`` has ``(2*wh-1) * (2*ww-1)`` rows, one column per head;
    the gather index is a non-persistent buffer (it is derived from the window, so it never needs to
    travel in a checkpoint). Loading a table made for another window bicubic-resizes it.

    Args:
        window_size (int | tuple[int, int]): the attention window.
        num_heads (int): number of heads.
    """

    def __init__(self, window_size, num_heads: int):
        super().__init__()
        self.window_size = to_2tuple(window_size)
        wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing='ij')).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)
        index = (rel[..., 0] + wh - 1) * (2 * ww - 1) + (rel[..., 1] + ww - 1)
        self.register_buffer('relative_position_index', index, persistent=False)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=.02)
        self.register_load_state_dict_pre_hook(self.fit_loaded_table)

    def forward(self, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
        """Return the ``(heads, N, N)`` bias, ``N = wh * ww``, in ``dtype`` (default: the table's).

        Casting the small table before the gather (rather than the gathered ``N x N`` bias after it) is
        exact and spares a full-size copy under autocast."""
        n = self.relative_position_index.shape[0]
        table = self.relative_position_bias_table
        bias = (table if dtype is None else table.to(dtype))[self.relative_position_index.view(-1)]
        return bias.view(n, n, -1).permute(2, 0, 1)

    @staticmethod
    def fit_loaded_table(module: 'RelativePositionBias', state_dict, prefix: str, *_) -> None:
        """Load-state-dict pre-hook: a table made for another window is resized to this one, and the
        index that official checkpoints carry as a persistent buffer is dropped (it is derived here)."""
        key = prefix + 'relative_position_bias_table'
        table = state_dict.get(key)
        if table is not None and table.shape != module.relative_position_bias_table.shape:
            state_dict[key] = resize_relative_position_table(table, module.window_size)
        state_dict.pop(prefix + 'relative_position_index', None)
