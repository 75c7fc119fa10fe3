"""Checks every vitzoo backbone must pass, and helpers for converter parity tests.

Each family's test file calls these with its own configs, so the contract is written once:

* :func:`check_output_shapes` - NCHW maps at the documented strides, any input size, as
  :func:`check_feature_info` says;
* :func:`check_frozen_stages`, :func:`check_norm_eval`;
* :func:`check_with_cp_same_output`, :func:`check_fused_matches_plain`, :func:`check_attention_kernel_choice`;
* :func:`check_all_params_get_grad`, :func:`check_state_dict_round_trip`;
* :func:`seeded_state_dict` / :func:`load_reference` / :func:`decode_floats` - regenerate the
  deterministic random weights behind a committed reference (``tests/data/*_reference.json``) whose
  logits were computed with the official code, so parity is checked without committing weights;
* :func:`load_tool` / :func:`run_converter` - run a repository script's code in this process;
  :class:`CodePayload` - a pickled object that would run a command, for the safe-loading checks.
"""
import base64
import importlib.util
import copy
import functools
import json
import math
import os
import subprocess
import sys
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple
from unittest import mock

import numpy as np
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(ROOT, 'tests', 'data')


def build_backbone(cfg: Dict[str, Any]) -> nn.Module:
    """Build a backbone from a config dict through the registry, as mm* would."""
    from mmengine.registry import MODELS
    return MODELS.build(copy.deepcopy(cfg))


def expected_size(size: int, stride: int) -> int:
    """Output size of a stride-``stride`` stack of 'same' stride-2 convs: ceil division."""
    return math.ceil(size / stride)


# ------------------------------------------------------------------------------------------ contract
def check_feature_info(model: nn.Module, strides: Sequence[int], channels: Sequence[int]) -> None:
    """timm-style ``feature_info`` has one entry per stage, naming a submodule; for the outputs it gives
    the expected channels (which ``out_channels`` and the ``norm{i}`` read) and strides."""
    assert len(model.feature_info) == model.num_stages, (len(model.feature_info), model.num_stages)
    infos = [model.feature_info[i] for i in model.out_indices]
    assert [info['num_chs'] for info in infos] == list(channels) == list(model.out_channels), infos
    assert [info['reduction'] for info in infos] == list(strides), infos
    for i, info in zip(model.out_indices, infos):
        model.get_submodule(info['module'])  # raises for a name the model does not have
        assert getattr(model, f'norm{i}').weight.shape == (info['num_chs'], )


def check_output_shapes(cfg: Dict[str, Any], sizes: Iterable[Tuple[int, int]], strides: Sequence[int],
                        channels: Sequence[int]) -> None:
    """Outputs have the given channels and ``ceil(size / stride)`` spatial sizes for every input size,
    and ``feature_info`` says so (:func:`check_feature_info`)."""
    model = build_backbone(cfg).eval()
    check_feature_info(model, strides, channels)
    for h, w in sizes:
        with torch.no_grad():
            outs = model(torch.randn(2, 3, h, w))
        assert isinstance(outs, tuple) and len(outs) == len(strides), (len(outs), strides)
        for out, stride, c in zip(outs, strides, channels):
            assert out.shape == (2, c, expected_size(h, stride), expected_size(w, stride)), \
                (h, w, stride, tuple(out.shape))
            assert torch.isfinite(out).all()


def check_frozen_stages(cfg: Dict[str, Any], frozen: int) -> None:
    """Stem, the first ``frozen`` stages and their output norms have no trainable parameters and stay in
    eval mode; everything after them still trains."""
    model = build_backbone(dict(cfg, frozen_stages=frozen))
    model.train()
    frozen_modules = list(model.stem_modules())
    for i in range(frozen):
        frozen_modules += model.stage_modules(i)
        if i in model.out_indices:
            frozen_modules.append(getattr(model, f'norm{i}'))
    frozen_ids = {id(p) for m in frozen_modules for p in m.parameters()}
    assert frozen_ids, 'nothing to freeze'
    for module in frozen_modules:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    trainable = [p for p in model.parameters() if id(p) not in frozen_ids]
    assert all(p.requires_grad for p in trainable)
    assert trainable or frozen == model.num_stages, 'unfrozen stages lost their gradients'


def check_norm_eval(cfg: Dict[str, Any]) -> None:
    """With ``norm_eval`` every BatchNorm stays in eval mode (running stats unchanged) in training."""
    model = build_backbone(dict(cfg, norm_eval=True))
    model.train()
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for bn in bns:
        assert not bn.training
    before = [bn.running_mean.clone() for bn in bns]
    model(torch.randn(2, 3, 64, 64))
    for bn, mean in zip(bns, before):
        assert torch.equal(bn.running_mean, mean)


def _outputs_and_grads(model: nn.Module, x: torch.Tensor) -> Tuple[List[torch.Tensor], Dict[str, torch.Tensor]]:
    model.zero_grad()
    outs = model(x)
    sum((o * torch.linspace(0.5, 1.5, o.numel()).view_as(o)).sum() for o in outs).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return [o.detach() for o in outs], grads


def check_with_cp_same_output(cfg: Dict[str, Any], size: Tuple[int, int] = (64, 96)) -> None:
    """Gradient checkpointing changes neither the outputs nor the gradients."""
    torch.manual_seed(0)
    plain = build_backbone(dict(cfg, with_cp=False))
    ckpt = build_backbone(dict(cfg, with_cp=True))
    ckpt.load_state_dict(plain.state_dict())
    # set_grad_checkpointing passes the flag to every stage that has one
    flags = [m for m in ckpt.modules() if 'with_cp' in vars(m)]
    assert all(m.with_cp for m in flags) and not any(m.with_cp for m in plain.modules() if 'with_cp' in vars(m))
    # Train mode with dropout/drop-path at zero so both runs are deterministic.
    plain.train(), ckpt.train()
    x = torch.randn(2, 3, *size)
    outs_a, grads_a = _outputs_and_grads(plain, x)
    outs_b, grads_b = _outputs_and_grads(ckpt, x)
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-4, atol=1e-6, msg=name)


def check_cp_stages(cfg: Dict[str, Any], stages: int, size: Tuple[int, int] = (64, 96)) -> None:
    """``with_cp`` with ``cp_stages=stages``: the first ``stages`` stages run their blocks again in the
    backward pass, the others once; ``set_grad_checkpointing`` switches that at run time."""
    model = build_backbone(dict(cfg, with_cp=True, cp_stages=stages)).train()
    calls = []
    for index in range(model.num_stages):
        linear = next(m for stage in model.stage_modules(index) for m in stage.modules() if isinstance(m, nn.Linear))
        calls.append([])
        # (a forward hook would miss recomputations that checkpointing stops early)
        linear.forward = functools.partial(_counted, linear.forward, calls[-1])
    x = torch.randn(2, 3, *size)
    _outputs_and_grads(model, x)
    assert [len(c) for c in calls] == [2] * stages + [1] * (model.num_stages - stages)
    for enable, expected in ((True, 2), (False, 1)):
        model.set_grad_checkpointing(enable)
        for c in calls:
            c.clear()
        _outputs_and_grads(model, x)
        assert [len(c) for c in calls] == [expected] * model.num_stages


def _counted(forward, calls: list, *args):
    calls.append(1)
    return forward(*args)


def check_all_params_get_grad(cfg: Dict[str, Any], size: Tuple[int, int] = (64, 96)) -> None:
    """Every parameter receives a non-zero gradient from a loss on all outputs."""
    model = build_backbone(cfg).train()
    _, grads = _outputs_and_grads(model, torch.randn(2, 3, *size))
    missing = [n for n, p in model.named_parameters() if n not in grads or not grads[n].abs().sum() > 0]
    assert not missing, f'parameters without gradient: {missing[:10]}'


def check_state_dict_round_trip(cfg: Dict[str, Any], tmp_path) -> None:
    """Saving and loading the state dict (strictly, through a file) reproduces the outputs."""
    torch.manual_seed(1)
    model = build_backbone(cfg).eval()
    path = os.path.join(str(tmp_path), 'backbone.pth')
    torch.save(model.state_dict(), path)
    torch.manual_seed(2)
    other = build_backbone(cfg).eval()
    other.load_state_dict(torch.load(path, weights_only=True), strict=True)
    x = torch.randn(1, 3, 64, 80)
    with torch.no_grad():
        for a, b in zip(model(x), other(x)):
            assert torch.equal(a, b)


def check_fused_matches_plain(cfg: Dict[str, Any], size: Tuple[int, int] = (97, 131)) -> None:
    """The SDPA path and the plain attention path give the same numbers (float round-off)."""
    model = build_backbone(cfg).eval()
    # one convention: a per-instance flag on every attention module, set by the model's one switch
    attentions = [m for m in model.modules() if 'fused_attn' in vars(m)]
    assert attentions, 'no attention module has its own fused_attn'
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        model.set_fused_attention(True)
        assert all(m.fused_attn for m in attentions)
        fused = model(x)
        model.set_fused_attention(False)
        assert not any(m.fused_attn for m in attentions)
        plain = model(x)
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def check_attention_kernel_choice(cfg: Dict[str, Any], size: Tuple[int, int] = (64, 64)) -> None:
    """SDPA runs where it is the faster kernel: in inference, and in float32 training unless the attention
    has a learned bias; CPU training in bf16 takes the plain path (SDPA's backward is several times slower
    there), and both train the same."""
    model = build_backbone(cfg)
    x = torch.randn(2, 3, *size)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def calls(train: bool, dtype: torch.dtype) -> Tuple[int, List[torch.Tensor]]:
        model.train(train)
        model.zero_grad()
        with mock.patch.object(torch.nn.functional, 'scaled_dot_product_attention', wraps=sdpa) as spy:
            with torch.set_grad_enabled(train), torch.autocast('cpu', dtype=dtype, enabled=dtype != torch.float32):
                loss = sum(out.float().square().mean() for out in model(x))
            if train:
                loss.backward()
        return spy.call_count, [p.grad.clone() for p in model.parameters() if p.grad is not None]

    assert calls(False, torch.bfloat16)[0] > 0, 'bf16 inference should use SDPA'
    from backbones.layers import RelativePositionBias
    learned_bias = any(isinstance(m, RelativePositionBias) for m in model.modules())
    assert (calls(True, torch.float32)[0] == 0) == learned_bias, 'float32 training: SDPA only without a learned bias'
    count, plain_grads = calls(True, torch.bfloat16)
    assert count == 0, f'bf16 CPU training called SDPA {count} times'
    model.set_fused_attention(False)
    assert calls(True, torch.bfloat16)[1] and all(
        torch.equal(a, b) for a, b in zip(plain_grads, calls(True, torch.bfloat16)[1]))


# ---------------------------------------------------------------------------------- parity helpers
def seeded_state_dict(manifest: Sequence[Tuple[str, Sequence[int]]], seed: int) -> Dict[str, torch.Tensor]:
    """Deterministic random weights for the keys and shapes of ``manifest``, in its order.

    Rules keep the network well conditioned: norm weights ``1 + 0.1 N``, BatchNorm running variances
    ``0.5 + U``, counters zero, everything else ``0.02 N``. The reference generators under /tmp used
    exactly this function.
    """
    generator = torch.Generator().manual_seed(seed)
    state_dict = {}
    for key, shape in manifest:
        shape = tuple(shape)
        leaf = key.rsplit('.', 1)[-1]
        if leaf == 'num_batches_tracked':
            value = torch.zeros(shape, dtype=torch.long)
        elif leaf == 'running_var':
            value = 0.5 + torch.rand(shape, generator=generator)
        elif leaf == 'weight' and len(shape) == 1:
            value = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            value = 0.02 * torch.randn(shape, generator=generator)
        state_dict[key] = value
    return state_dict


def seeded_input(shape: Sequence[int], seed: int) -> torch.Tensor:
    """The deterministic input image batch used with a reference."""
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed))


def encode_floats(tensor: torch.Tensor) -> str:
    """float32 tensor -> base64 text, bit-exact (used by the reference generators)."""
    return base64.b64encode(tensor.detach().float().contiguous().numpy().tobytes()).decode()


def decode_floats(text: str, shape: Sequence[int]) -> torch.Tensor:
    """Inverse of :func:`encode_floats`."""
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()).view(*shape)


def load_reference(name: str) -> Dict[str, Any]:
    """Read ``tests/data/<name>.json``."""
    with open(os.path.join(DATA_DIR, name + '.json')) as f:
        return json.load(f)


def run_tool(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a repository script with this interpreter; returns the completed process."""
    result = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f'{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}')
    return result


def load_tool(path: str, name: str) -> Any:
    """Import a repository script (``path`` relative to the root) as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def run_converter(converter: Any, capsys, *args: str) -> Tuple[int, str, str]:
    """Run a converter's command line in this process: ``(exit code, stdout, stderr)``."""
    capsys.readouterr()
    code = converter.converter_main(converter.convert, converter.__name__, converter.add_arguments,
                                    argv=list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class CodePayload:
    """Unpickles as ``os.system('touch <marker>')``: what a malicious checkpoint would carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


def build_classifier(backbone: Dict[str, Any], in_channels: int, num_classes: int,
                     neck: Optional[Dict[str, Any]] = None, head: Optional[Dict[str, Any]] = None) -> nn.Module:
    """An mmpretrain ``ImageClassifier`` around a backbone config (GAP neck, linear head by default)."""
    from mmpretrain.registry import MODELS
    cfg = dict(
        type='ImageClassifier',
        backbone=copy.deepcopy(backbone),
        neck=neck if neck is not None else dict(type='GlobalAveragePooling'),
        head=head or dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels,
                          loss=dict(type='CrossEntropyLoss')))
    return MODELS.build(cfg)
