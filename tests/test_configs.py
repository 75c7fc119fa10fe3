"""Every config in configs/ parses, builds its model, and runs one loss + backward step on a tiny batch.

The backbone's ``init_cfg`` (a converted checkpoint path) is dropped, since no weights exist here; the
rest of each config is used as written, so a wrong neck/head width, a bad registry name or a broken
pipeline of losses fails here. One thing is changed to keep ~100 configs affordable on 2 CPU cores: the
backbone keeps its arch's widths, heads, windows and outputs but gets at most two blocks per stage (ViT:
one layer per requested output), since full-size L/H models take half a minute per step here. The blocks
themselves are covered, at full size, by each family's contract and parity tests. Inputs are 64x96 (not a
multiple of any window) to exercise padding in every backbone; two-stage detectors sample fewer RoIs.
A config whose model (so prepared) equals one that already passed, e.g. a 3x config and its 1x twin, which
differ only in schedule and data pipeline, is checked to be that model and not stepped again.
"""
import glob
import json
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

from contract import ROOT

CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, 'configs', '*', '*.py')) if '/_base_/' not in p)
HEIGHT, WIDTH = 64, 96
STEPPED = set()  # (default_scope, model config) of the configs that passed the step


def _image() -> torch.Tensor:
    return torch.randint(0, 256, (3, HEIGHT, WIDTH), dtype=torch.uint8)


def _classification_batch(num_classes: int):
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(2)]
    return dict(inputs=[_image(), _image()], data_samples=samples)


def _detection_batch(with_mask: bool):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(2):
        sample = DetDataSample(metainfo=dict(img_shape=(HEIGHT, WIDTH), ori_shape=(HEIGHT, WIDTH),
                                             pad_shape=(HEIGHT, WIDTH), scale_factor=(1., 1.)))
        instances = InstanceData(bboxes=torch.tensor([[8., 10., 40., 50.], [30., 5., 90., 60.]]),
                                 labels=torch.tensor([1, 3]))
        if with_mask:
            masks = torch.zeros(2, HEIGHT, WIDTH, dtype=torch.uint8)
            masks[0, 10:50, 8:40] = 1
            masks[1, 5:60, 30:90] = 1
            instances.masks = BitmapMasks(masks.numpy(), HEIGHT, WIDTH)
        sample.gt_instances = instances
        samples.append(sample)
    return dict(inputs=[_image(), _image()], data_samples=samples)


def _segmentation_batch(num_classes: int):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(HEIGHT, WIDTH), ori_shape=(HEIGHT, WIDTH),
                                             pad_shape=(HEIGHT, WIDTH)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, HEIGHT, WIDTH)))
        samples.append(sample)
    return dict(inputs=[_image(), _image()], data_samples=samples)


def _make_batch(cfg: Config):
    scope = cfg.get('default_scope')
    model = cfg.model
    if scope == 'mmpretrain':
        return _classification_batch(model.head.num_classes)
    if scope == 'mmdet':
        return _detection_batch(with_mask='roi_head' in model and 'mask_head' in model.roi_head)
    if scope == 'mmseg':
        # mmseg's preprocessor pads to the crop size; a small size keeps the step fast.
        model.data_preprocessor.size = (HEIGHT, WIDTH)
        return _segmentation_batch(model.decode_head.num_classes)
    raise AssertionError(f'unexpected default_scope {scope!r}')


def _shallow_backbone(backbone) -> None:
    """Same arch but at most two blocks per stage; ViT: one layer per requested output."""
    cls = MODELS.get(backbone.type)
    arch = cls.resolve_arch(backbone.arch)
    if 'depths' in arch:
        arch['depths'] = tuple(min(depth, 2) for depth in arch['depths'])
    elif 'depth' in arch:
        if 'out_indices' in backbone and backbone.get('out_type', 'featmap') != 'cls_token':
            count = len(backbone.out_indices) if isinstance(backbone.out_indices, (list, tuple)) else 1
            backbone.out_indices = tuple(range(count))
            arch['depth'] = count
        else:
            arch['depth'] = min(arch['depth'], 2)
    backbone.arch = arch


def _fewer_proposals(model_cfg) -> None:
    """Two-stage detectors: sample 64 RoIs per image instead of 512 (the heads' wiring is the same)."""
    train_cfg = model_cfg.get('train_cfg') or {}
    if 'rcnn' in train_cfg:
        # Cascade R-CNN has one rcnn setting per stage.
        for stage in train_cfg.rcnn if isinstance(train_cfg.rcnn, (list, tuple)) else [train_cfg.rcnn]:
            stage.sampler.num = 64
        train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)


def _strip_pretrained(model_cfg) -> None:
    backbone = model_cfg.get('backbone', {})
    if isinstance(backbone.get('init_cfg'), dict) and backbone.init_cfg.get('type') == 'Pretrained':
        backbone.init_cfg = None


@pytest.mark.parametrize('config', CONFIGS, ids=[os.path.relpath(p, os.path.join(ROOT, 'configs')) for p in CONFIGS])
def test_config_builds_and_trains_one_step(config):
    cfg = Config.fromfile(config)
    assert cfg.model.backbone.type.startswith('backbones.'), 'backbones must be referenced as backbones.<Name>'
    _strip_pretrained(cfg.model)
    init_default_scope(cfg.default_scope)
    _shallow_backbone(cfg.model.backbone)
    _fewer_proposals(cfg.model)
    if cfg.get('data_preprocessor') is not None:  # mmpretrain keeps it beside the model; the Runner merges it
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    batch = _make_batch(cfg)
    stepped = (cfg.default_scope, json.dumps(cfg.model.to_dict(), sort_keys=True, default=repr))
    if stepped in STEPPED:
        return
    model = MODELS.build(cfg.model)
    model.init_weights()
    # Zero-initialised classifiers (mmpretrain's VisionTransformerClsHead, ViT's zero_head) pass the
    # backbone no gradient on the first step; give them small weights so the check below can see one.
    head = getattr(model, 'head', None)
    for param in (head.parameters() if head is not None else ()):
        if param.dim() > 1 and not param.any():
            torch.nn.init.normal_(param, std=0.01)
    model.train()
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss), losses
    loss.backward()
    backbone_grads = [p.grad for p in model.backbone.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in backbone_grads), 'no gradient reached the backbone'
    STEPPED.add(stepped)


def test_gcvit_config_zoo_is_complete():
    names = {os.path.basename(p) for p in CONFIGS if '/gcvit/' in p}
    for v in ('xxt', 'xt', 't', 't2', 's', 's2', 'b', 'l'):
        assert any(n.startswith(f'gcvit-{v}_') and n.endswith('_in1k.py') for n in names), v
    for v in ('xxt', 't', 's', 'b'):
        for schedule in ('1x', '3x'):
            assert f'mask-rcnn_gcvit-{v}_fpn_{schedule}_coco.py' in names
            assert f'retinanet_gcvit-{v}_fpn_{schedule}_coco.py' in names
        assert f'upernet_gcvit-{v}_8xb2-160k_ade20k-512x512.py' in names
    for v in ('t', 's', 'b'):  # the official detection code's Cascade Mask R-CNN 3x results
        assert f'cascade-mask-rcnn_gcvit-{v}_fpn_3x_coco.py' in names
