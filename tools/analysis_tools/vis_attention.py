"""Draw a ViT's attention rollout of the class token over an image.

Attention rollout (Abnar & Zuidema, 2020): each layer's attention, fused over heads, gets the identity
added for its residual connection and its rows renormalised; the product over layers says how much each
input token feeds the final class token. Row 0 (the class token) over the patch tokens is upsampled to
the image and drawn as a heat-map overlay beside the image.

Example::

    python tools/analysis_tools/vis_attention.py configs/vit/vit-b16_8xb64_in1k.py vit-b16.pth cat.png out.png

``CKPT`` may be ``none`` to use the config's initial (random) weights. The config's model must have a
``backbones.ViT`` backbone (``model.backbone``) or be one.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..')))

import backbones  # noqa: E402,F401  (before torch extensions: patches compiled ops on CPU-only torch)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from backbones.checkpoint import UnsafeCheckpointError, find_state_dict, load_weights_file  # noqa: E402
from backbones.vit import ViT  # noqa: E402


def attention_rollout(attentions, head_fusion: str = 'mean') -> torch.Tensor:
    """Roll attention out over layers.

    Args:
        attentions (list[Tensor]): per layer ``(B, heads, N, N)`` softmax weights, first layer first.
        head_fusion (str): ``'mean'``, ``'max'`` or ``'min'`` over heads.

    Returns:
        Tensor: ``(B, N, N)``; row ``i`` says how much each input token contributes to output token ``i``.
    """
    rollout = None
    for attn in attentions:
        fused = getattr(attn, head_fusion)(dim=1)
        fused = fused[0] if isinstance(fused, tuple) else fused  # max/min return (values, indices)
        fused = fused + torch.eye(fused.shape[-1], dtype=fused.dtype, device=fused.device)
        fused = fused / fused.sum(dim=-1, keepdim=True)
        rollout = fused if rollout is None else fused @ rollout
    return rollout


def class_token_map(backbone: ViT, image: torch.Tensor, head_fusion: str = 'mean') -> np.ndarray:
    """Rollout of the class token over the patch grid of ``image`` (``(1, 3, H, W)``, normalised),
    upsampled to ``H x W`` and scaled to ``[0, 1]``."""
    h, w = image.shape[-2:]
    stride = backbone.patch_stride
    grid = (-(-h // stride), -(-w // stride))
    rollout = attention_rollout(backbone.attention_maps(image), head_fusion)
    heat = rollout[0, 0, 1:].reshape(1, 1, *grid)
    # The grid covers the zero-padded image; crop the padding back off after upsampling.
    heat = F.interpolate(heat, size=(grid[0] * stride, grid[1] * stride), mode='bilinear', align_corners=False)
    heat = heat[0, 0, :h, :w]
    heat = (heat - heat.min()) / (heat.max() - heat.min()).clamp_min(1e-12)
    return heat.numpy()


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a ``[0, 1]`` heat map (jet colours) over an ``(H, W, 3)`` uint8 RGB image; returns uint8."""
    from matplotlib import colormaps
    colours = colormaps['jet'](heat)[..., :3] * 255.
    return np.clip((1 - alpha) * image.astype(np.float64) + alpha * colours, 0, 255).astype(np.uint8)


def build_backbone(config: str, checkpoint: str) -> ViT:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmengine.registry import MODELS
    model_cfg = cfg.model
    # The classifier's head and data preprocessor are not needed: build only the backbone.
    backbone_cfg = model_cfg.get('backbone', model_cfg)
    backbone = MODELS.build(backbone_cfg)
    if not isinstance(backbone, ViT):
        raise SystemExit(f'error: {config} has a {type(backbone).__name__} backbone; attention rollout needs '
                         'backbones.ViT')
    if checkpoint.lower() != 'none':
        state_dict = find_state_dict(load_weights_file(checkpoint))
        if any(k.startswith('backbone.') for k in state_dict):
            state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')}
        missing, unexpected = backbone.load_state_dict(state_dict, strict=False)
        if missing:
            print(f'warning: {len(missing)} backbone weights not in {checkpoint}: {missing[:4]}', file=sys.stderr)
    return backbone.eval()


def normalisation(config: str):
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    pre = cfg.get('data_preprocessor') or cfg.model.get('data_preprocessor') or {}
    mean = pre.get('mean', [127.5] * 3)
    std = pre.get('std', [127.5] * 3)
    return np.asarray(mean, np.float32), np.asarray(std, np.float32)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Draw the attention rollout of a ViT class token over an image.')
    parser.add_argument('config', help='config whose model has a backbones.ViT backbone')
    parser.add_argument('checkpoint', help="weights (.pth/.safetensors), or 'none' for the initial weights")
    parser.add_argument('image', help='input image')
    parser.add_argument('out', help='output .png: the image and the overlay side by side')
    parser.add_argument('--size', type=int, nargs='+', default=None,
                        help='resize the image to SIZE (square) or H W before the model; default: the '
                        "backbone's img_size")
    parser.add_argument('--head-fusion', choices=('mean', 'max', 'min'), default='mean')
    parser.add_argument('--alpha', type=float, default=0.5, help='heat-map opacity')
    parser.add_argument('--seed', type=int, default=0, help="seed of the initial weights (CKPT 'none')")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from PIL import Image
    torch.manual_seed(args.seed)
    try:
        backbone = build_backbone(args.config, args.checkpoint)
    except (UnsafeCheckpointError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    size = tuple(args.size) if args.size else backbone.img_size
    size = (size[0], size[0]) if len(size) == 1 else size
    image = Image.open(args.image).convert('RGB').resize((size[1], size[0]), Image.BICUBIC)
    pixels = np.asarray(image)
    mean, std = normalisation(args.config)
    tensor = torch.from_numpy((pixels.astype(np.float32) - mean) / std).permute(2, 0, 1)[None]
    heat = class_token_map(backbone, tensor, args.head_fusion)
    canvas = np.concatenate([pixels, np.full((size[0], 8, 3), 255, np.uint8), overlay(pixels, heat, args.alpha)],
                            axis=1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or '.', exist_ok=True)
    Image.fromarray(canvas).save(args.out)
    peak = np.unravel_index(np.argmax(heat), heat.shape)
    print(f'wrote {args.out}: rollout of {len(backbone.layers)} layers at {size[0]}x{size[1]}, '
          f'peak at (y={peak[0]}, x={peak[1]})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
