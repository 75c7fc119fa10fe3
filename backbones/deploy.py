"""Export a config's model to ONNX and check the file in onnxruntime (``tools/deployment/export_onnx.py``).

What is exported is what a deployment runs on a preprocessed (normalised) ``(B, 3, H, W)`` batch:

* a classifier (mmpretrain): ``model(x, mode='tensor')``, the logits;
* a segmentor (mmseg): ``model(x, mode='tensor')``, the decode head's logits at stride 4;
* a detector (mmdet): ``model.extract_feat(x)``, the backbone + neck pyramid (box decoding and NMS are
  post-processing that stays in the application).

The graph comes from ``torch.export`` (``torch.onnx.export(dynamo=True)``). With ``dynamic=True`` the batch,
height and width are symbolic: every backbone pads to its window or patch multiple inside the graph (see
:func:`backbones.layers.is_tracing`), so one file serves every size the config's model accepts: sides of at
least :data:`MIN_SIDE` pixels, for a detector multiples of :data:`SIZE_MULTIPLE` (its neck's pyramid).
Segmentors keep a symbolic batch only: UPerNet's pyramid pooling (adaptive pooling to 1, 2, 3, 6 cells)
becomes fixed-size pooling in ONNX, so they are exported at the deployment size.

A classifier's height and width are ``Dim.DYNAMIC``, not named ``Dim``s: torch.export then keeps guards it
cannot prove from a range (GC ViT's and DaViT's window counts, e.g. ``count != 9`` from a reshape, or a
stage with a single window row) as its own business instead of refusing the range. The ONNX graph computes
the same for every size; :func:`compare_onnx` checks it off the traced size.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config

from .checkpoint import find_state_dict, load_weights_file

__all__ = [
    'ExportModule', 'build_export_module', 'export_onnx', 'compare_onnx', 'dynamic_size_supported',
    'dynamic_size_multiple', 'MIN_SIDE', 'SIZE_MULTIPLE'
]

MIN_SIDE = 32
# Stride of the deepest maps: a detector's dynamic graph takes multiples of it (dynamic_size_multiple).
SIZE_MULTIPLE = 32
MAX_SIDE = 4096


class ExportModule(nn.Module):
    """A model reduced to ``forward(images) -> tensor(s)``: ``mode='tensor'`` logits, or a detector's
    ``extract_feat`` pyramid (``task='detection'``)."""

    def __init__(self, model: nn.Module, task: str):
        super().__init__()
        self.model = model
        self.task = task

    def forward(self, images: torch.Tensor):
        if self.task == 'detection':
            return tuple(self.model.extract_feat(images))
        return self.model(images, mode='tensor')


def task_of(cfg: Config) -> str:
    """``classification``, ``detection`` or ``segmentation`` from the config's default scope."""
    scope = cfg.get('default_scope', 'mmpretrain')
    tasks = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}
    if scope not in tasks:
        raise ValueError(f'default_scope {scope!r} is not one of {sorted(tasks)}')
    return tasks[scope]


def build_export_module(config: str, checkpoint: Optional[str] = None) -> Tuple[ExportModule, Config]:
    """Build the config's model in eval mode (weights from ``checkpoint``, loaded without unpickling code)."""
    from mmengine.registry import MODELS, init_default_scope
    cfg = Config.fromfile(config)
    task = task_of(cfg)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model_cfg = cfg.model
    if model_cfg.get('backbone', {}).get('init_cfg') is not None:
        model_cfg.backbone.init_cfg = None  # pretraining weights are not needed to trace a graph
    model = MODELS.build(model_cfg)
    if checkpoint is not None:
        state_dict = find_state_dict(load_weights_file(checkpoint))
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        if len(missing) == len(model.state_dict()):
            raise ValueError(f'no weight in {checkpoint} matches the model of {config}')
    return ExportModule(model, task).eval(), cfg


def _as_list(outputs) -> List[torch.Tensor]:
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def dynamic_size_supported(task: str) -> bool:
    """Whether the ONNX graph can keep H and W symbolic: a segmentor's UPerNet head pools adaptively to
    fixed grids, which ONNX can only express with kernel sizes of the traced input size."""
    return task != 'segmentation'


def dynamic_size_multiple(task: str) -> int:
    """What a dynamic graph's sides must be multiples of: a detector's neck adds upsampled maps to finer
    ones, which only line up when every level halves exactly; a classifier takes any size."""
    return SIZE_MULTIPLE if task == 'detection' else 1


def export_onnx(module: ExportModule, path: str, shape: Sequence[int], dynamic: bool = False,
                opset: Optional[int] = None) -> List[str]:
    """Export ``module`` for ``(1, 3, H, W)`` inputs (symbolic batch, and H and W where
    :func:`dynamic_size_supported`, with ``dynamic``) to ``path``; return the output names."""
    # A dynamic batch is traced with 2 images: torch.export specialises sizes 0 and 1.
    example = torch.randn(2 if dynamic else 1, 3, *shape)
    with torch.no_grad():
        num_outputs = len(_as_list(module(example)))
    output_names = ['output'] if num_outputs == 1 else [f'output{i}' for i in range(num_outputs)]
    dynamic_shapes = None
    if dynamic:
        batch = torch.export.Dim('batch', min=1, max=1024)
        multiple = dynamic_size_multiple(module.task)
        if multiple == 1:  # see the module docstring
            height = width = torch.export.Dim.DYNAMIC(min=MIN_SIDE, max=MAX_SIDE)
        else:
            height = multiple * torch.export.Dim('height_blocks', min=MIN_SIDE // multiple, max=MAX_SIDE // multiple)
            width = multiple * torch.export.Dim('width_blocks', min=MIN_SIDE // multiple, max=MAX_SIDE // multiple)
        dims = {0: batch, 2: height, 3: width} if dynamic_size_supported(module.task) else {0: batch}
        dynamic_shapes = {'images': dims}
    kwargs = {} if opset is None else dict(opset_version=opset)
    with torch.no_grad():
        torch.onnx.export(module, (example, ), path, input_names=['images'], output_names=output_names,
                          dynamo=True, dynamic_shapes=dynamic_shapes, external_data=False, **kwargs)
    return output_names


def compare_onnx(module: ExportModule, path: str, shapes: Sequence[Sequence[int]],
                 batch: int = 1) -> Dict[Tuple[int, int], Tuple[float, float]]:
    """Run ``path`` in onnxruntime and ``module`` in PyTorch on the same random batch for every ``(H, W)``
    of ``shapes``; return, per shape, the largest absolute difference over all outputs and the largest
    absolute PyTorch output (its scale)."""
    import onnxruntime as ort
    session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    input_name = session.get_inputs()[0].name
    errors = {}
    generator = torch.Generator().manual_seed(0)
    for h, w in shapes:
        images = torch.randn(batch, 3, h, w, generator=generator)
        with torch.no_grad():
            expected = _as_list(module(images))
        got = session.run(None, {input_name: images.numpy()})
        if len(got) != len(expected):
            raise RuntimeError(f'{path} returns {len(got)} outputs, PyTorch {len(expected)}')
        error, scale = 0., 0.
        for ours, theirs in zip(expected, got):
            if tuple(ours.shape) != tuple(theirs.shape):
                raise RuntimeError(f'{path}: output shape {theirs.shape} differs from PyTorch {tuple(ours.shape)}')
            error = max(error, float(np.abs(ours.numpy() - theirs).max()))
            scale = max(scale, float(ours.abs().max()))
        errors[(h, w)] = (error, scale)
    return errors


def check_export_args(config: str, checkpoint: Optional[str], shape: Sequence[int]) -> None:
    """Raise ``ValueError`` with one line naming the bad argument."""
    if not osp.isfile(config):
        raise ValueError(f'config {config} does not exist')
    if checkpoint is not None and not osp.isfile(checkpoint):
        raise ValueError(f'checkpoint {checkpoint} does not exist')
    if len(shape) != 2 or any(not isinstance(s, int) or s < MIN_SIDE or s > MAX_SIDE for s in shape):
        raise ValueError(f'--shape {" ".join(map(str, shape))} is not valid: give H W, each an integer '
                         f'in [{MIN_SIDE}, {MAX_SIDE}]')
