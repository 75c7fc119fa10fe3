#!/usr/bin/env python
"""Draw where a classifier looks: Grad-CAM of one backbone stage, for the hierarchical families.

Grad-CAM (Selvaraju et al., 2017): the map of a backbone stage, each channel weighted by the mean
gradient of the predicted (or given) class score over it, summed over channels and rectified. It needs
no class token, so it suits GC ViT, DaViT and GroupMixFormer, whose attention is windowed or grouped
(``vis_attention.py`` draws the attention rollout of a ViT's class token instead). The stage's map is
taken from the backbone's own outputs (``out_indices`` gets the stage added; its output norm, if the
checkpoint has none, starts as the identity), so nothing family-specific is hooked.

Example::

    python tools/analysis_tools/vis_cam.py configs/gcvit/gcvit-demo_2xb64_embedded-in1k.py \\
        work_dirs/demo/gcvit-demo_embedded-in1k.pth img1.JPEG img2.JPEG --out cam.png

Each row of the output shows an image and its map overlaid (mmengine's ``Visualizer.draw_featmap``),
labelled with the prediction by mmpretrain's ``UniversalVisualizer``.
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


def build_classifier(config: str, checkpoint: str, stage: int):
    """Build the config's classifier with ``stage`` added to the backbone outputs; returns (model, cfg)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    from mmpretrain.registry import MODELS
    backbone = cfg.model.backbone
    num_stages = MODELS.get(backbone.type).num_stages
    out_indices = backbone.get('out_indices', (num_stages - 1, ))
    last = (out_indices if isinstance(out_indices, int) else out_indices[-1]) % num_stages
    if not -num_stages <= stage < num_stages or stage % num_stages > last:
        raise SystemExit(f'vis_cam.py: error: --stage {stage} is not a stage the classifier runs (0..{last})')
    stage %= num_stages
    backbone.out_indices = tuple(sorted({stage, last}))
    if cfg.get('data_preprocessor') is not None:  # mmpretrain keeps it beside the model (the runner merges it)
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    if checkpoint.lower() != 'none':
        state_dict = find_state_dict(load_weights_file(checkpoint))
        missing, _ = model.load_state_dict(state_dict, strict=False)
        missing = [k for k in missing if not k.startswith(f'backbone.norm{stage}.')]
        if missing:
            print(f'warning: {len(missing)} weights not in {checkpoint}: {missing[:4]}', file=sys.stderr)
    return model.eval(), cfg


def grad_cam(model, inputs: torch.Tensor, stage: int, target=None):
    """Grad-CAM of backbone stage ``stage`` for one normalised image ``(1, 3, H, W)``.

    The explained map is the input of the stage's output norm ``norm{stage}``: the stage's output on the
    classifier's own path (the norm of a stage the classifier does not use is a side branch, which no
    gradient reaches).

    Returns:
        tuple: the map ``(h, w)`` in ``[0, 1]`` at the stage's resolution, the class it explains and the
        softmax scores ``(num_classes, )``.
    """
    captured = {}

    def keep_input(module, args):
        captured['map'] = args[0]
        args[0].retain_grad()

    handle = getattr(model.backbone, f'norm{stage}').register_forward_pre_hook(keep_input)
    try:
        with torch.enable_grad():
            maps = model.backbone(inputs)
            logits = model.head(model.neck(maps) if model.with_neck else maps)
            scores = logits.softmax(-1)[0].detach()
            target = int(scores.argmax()) if target is None else int(target)
            logits[0, target].backward()
    finally:
        handle.remove()
    height, width = maps[0].shape[-2:]  # the stage's map is the first output (NCHW)
    activation, gradient = captured['map'][0].detach(), captured['map'].grad[0]
    # channels-last (H, W, C) maps or (H*W, C) tokens -> (C, H, W)
    activation, gradient = (t.reshape(height, width, -1).permute(2, 0, 1) for t in (activation, gradient))
    cam = torch.relu((gradient.mean(dim=(1, 2), keepdim=True) * activation).sum(0))
    return cam / cam.max().clamp_min(1e-12), target, scores


def draw_cams(model, cfg, image_paths, out_file: str, stage: int = 0, display_size: int = 128, labels=None) -> np.ndarray:
    """Draw image | Grad-CAM overlay rows for ``image_paths`` and save them to ``out_file``."""
    import mmcv
    from mmengine.dataset import Compose, pseudo_collate
    from mmengine.visualization import Visualizer
    from mmpretrain.structures import DataSample
    from mmpretrain.visualization import UniversalVisualizer

    classes = cfg.get('test_dataloader', {}).get('dataset', {}).get('metainfo', {}).get('classes')
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    visualizer = UniversalVisualizer.get_instance('vis_cam')
    rows = []
    for i, path in enumerate(image_paths):
        data = model.data_preprocessor(pseudo_collate([pipeline(dict(img_path=path))]), False)
        cam, target, scores = grad_cam(model, data['inputs'], stage)
        image = mmcv.imresize(mmcv.imread(path, channel_order='rgb'), (display_size, display_size))
        cam = F.interpolate(cam[None, None], size=image.shape[:2], mode='bilinear', align_corners=False)[0]
        overlay = Visualizer.draw_featmap(cam, image, channel_reduction=None, topk=0, alpha=0.5)
        sample = DataSample().set_pred_label(target).set_pred_score(scores)
        if labels is not None:
            sample.set_gt_label(int(labels[i]))
        overlay = visualizer.visualize_cls(overlay, sample, classes=classes, draw_score=True)
        gap = np.full((display_size, 6, 3), 255, np.uint8)
        rows.append(np.concatenate([image, gap, overlay], axis=1))
        rows.append(np.full((6, rows[-1].shape[1], 3), 255, np.uint8))
    canvas = np.concatenate(rows[:-1], axis=0)
    os.makedirs(os.path.dirname(os.path.abspath(out_file)) or '.', exist_ok=True)
    mmcv.imwrite(canvas[..., ::-1], out_file)
    return canvas


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('config', help='an mmpretrain classifier config (GC ViT, DaViT, GroupMixFormer, ...)')
    parser.add_argument('checkpoint', help="weights (.pth/.safetensors), or 'none' for the initial weights")
    parser.add_argument('images', nargs='+', help='input images')
    parser.add_argument('--out', required=True, help='output .png: one row (image | map) per image')
    parser.add_argument('--stage', type=int, default=0,
                        help='backbone stage whose map is explained (default 0, the finest; -1 is the last)')
    parser.add_argument('--size', type=int, default=128, help='side of each drawn image')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for path in args.images:
        if not os.path.isfile(path):
            print(f'vis_cam.py: error: image {path} does not exist', file=sys.stderr)
            return 2
    try:
        model, cfg = build_classifier(args.config, args.checkpoint, args.stage)
    except (UnsafeCheckpointError, FileNotFoundError) as err:
        print(f'vis_cam.py: error: {err}', file=sys.stderr)
        return 2
    draw_cams(model, cfg, args.images, args.out, stage=args.stage % model.backbone.num_stages, display_size=args.size)
    print(f'wrote {args.out}: Grad-CAM of stage {args.stage} for {len(args.images)} images')
    return 0


if __name__ == '__main__':
    sys.exit(main())
