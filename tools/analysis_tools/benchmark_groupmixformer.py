#!/usr/bin/env python
"""Inference speed of vitzoo's GroupMixFormer classifiers, optionally against the official code.

    python tools/analysis_tools/benchmark_groupmixformer.py                      # ours, m t s b l
    python tools/analysis_tools/benchmark_groupmixformer.py --archs m t \\
        --official-repo /path/to/GroupMixFormer                                   # + official, same run

Each variant is timed as a full classifier (backbone, global average pooling, linear head) in eval
mode under ``torch.inference_mode``, fp32 on the CPU (or ``--device cuda``), at 224x224 and 512x512
by default. The weights are random but deterministic, with non-trivial BatchNorm statistics.

With ``--official-repo`` (a checkout of AILab-CVC/GroupMixFormer *outside* this repository), the
official model is imported from ``models/groupmixformer.py`` of that checkout at run time, given the
same weights through ``tools/model_converters/groupmixformer_to_mm.py``'s key mapping, and timed in
the same process, interleaved with ours (each repeat times both), so that both see the same machine
load. Its logits are compared with ours (the official model only runs when H and W divide by 32).
To run it, the script only adjusts the Python session it runs in: it stubs modules the official file
imports without using (``ipdb``; ``einops`` if absent, by a small ``rearrange``), and swaps the
official ``SyncBatchNorm`` modules for ``BatchNorm2d`` after building (same numbers in eval mode;
SyncBN needs a process group on some versions). Nothing is copied from or written to the checkout.

Reported: images/s (median over ``--repeats`` timed runs, after ``--warmup`` untimed ones), the
speed-up over the official code, and the max abs logit difference (exit code 1 if it exceeds float
round-off, 1e-4 of the logit scale).
"""
import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
import types
from collections import OrderedDict

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tools', 'model_converters'))

import backbones  # noqa: E402,F401  (first: it prepares torchvision's ops on CPU-only torch)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from backbones.groupmixformer import GroupMixFormer  # noqa: E402
from groupmixformer_to_mm import ZOO_SHAPES, map_official  # noqa: E402

# mlp ratios per variant (ZOO_SHAPES has dims and depths)
MLP_RATIOS = {a: tuple(float(r) for r in GroupMixFormer.arch_zoo[a]['mlp_ratios']) for a in ZOO_SHAPES}


class Classifier(nn.Module):
    """The layout of the mmpretrain classifier (backbone, GAP neck, linear head) without mmpretrain."""

    def __init__(self, arch: str, num_classes: int = 1000):
        super().__init__()
        self.backbone = GroupMixFormer(arch, out_indices=(3, ))
        self.head = nn.Module()
        self.head.fc = nn.Linear(self.backbone.embed_dims[3], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head.fc(self.backbone(x)[0].mean(dim=(2, 3)))


def official_state_dict(keys_and_shapes, seed: int = 0) -> 'OrderedDict[str, torch.Tensor]':
    """Deterministic random weights in the official layout (BatchNorm statistics included)."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, (shape, dtype) in keys_and_shapes.items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.zeros(shape, dtype=dtype)
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif 'norm' in key and key.endswith('weight'):
            state[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            state[key] = 0.02 * torch.randn(shape, generator=gen)
    return state


# ------------------------------------------------------------------------------- the official code
def _rearrange(tensor: torch.Tensor, pattern: str, **sizes) -> torch.Tensor:
    """A minimal ``einops.rearrange`` (axis names and parenthesised groups), for running the official
    file where einops is not installed."""

    def parse(side):
        groups, current = [], None
        for token in side.replace('(', ' ( ').replace(')', ' ) ').split():
            if token == '(':
                current = []
            elif token == ')':
                groups.append(current)
                current = None
            elif current is not None:
                current.append(token)
            else:
                groups.append([token])
        return groups

    left, right = (parse(side) for side in pattern.split('->'))
    known = dict(sizes)
    for group, dim in zip(left, tensor.shape):
        unknown = [name for name in group if name not in known]
        product = 1
        for name in group:
            product *= known.get(name, 1)
        if len(unknown) == 1:
            known[unknown[0]] = dim // product
    names = [name for group in left for name in group]
    x = tensor.reshape([known[name] for name in names])
    order = [names.index(name) for group in right for name in group]
    x = x.permute(order)
    shape = []
    for group in right:
        size = 1
        for name in group:
            size *= known[name]
        shape.append(size)
    return x.reshape(shape)


def load_official(repo: str):
    """Import ``models/groupmixformer.py`` from an official checkout (outside this repository)."""
    repo = os.path.abspath(repo)
    path = os.path.join(repo, 'models', 'groupmixformer.py')
    if os.path.commonpath([repo, REPO]) == REPO:
        raise SystemExit('--official-repo must be outside this repository (official code is not part of it)')
    if not os.path.isfile(path):
        raise SystemExit(f'--official-repo: {path} not found; pass a checkout of AILab-CVC/GroupMixFormer')
    # Imported by the official file but not used by the model: stub it in this session only.
    sys.modules.setdefault('ipdb', types.ModuleType('ipdb'))
    try:
        import einops  # noqa: F401
    except ImportError:
        stub = types.ModuleType('einops')
        stub.rearrange = _rearrange
        sys.modules['einops'] = stub
    spec = importlib.util.spec_from_file_location('official_groupmixformer', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def swap_sync_bn(model: nn.Module) -> nn.Module:
    """Replace every ``nn.SyncBatchNorm`` by an ``nn.BatchNorm2d`` with the same state."""
    for name, child in model.named_children():
        if isinstance(child, nn.SyncBatchNorm):
            bn = nn.BatchNorm2d(child.num_features, child.eps, child.momentum, child.affine,
                                child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            setattr(model, name, bn)
        else:
            swap_sync_bn(child)
    return model


def build_pair(arch: str, official_module=None, seed: int = 0):
    """Our classifier and, if ``official_module`` is given, the official one with the same weights."""
    ours = Classifier(arch)
    if official_module is None:
        # Random weights through our own layout (BatchNorm statistics included).
        shapes = OrderedDict((k, (tuple(v.shape), v.dtype)) for k, v in ours.state_dict().items())
        ours.load_state_dict(official_state_dict(shapes, seed))
        return ours.eval(), None
    dims, depths = ZOO_SHAPES[arch]
    official = official_module.GroupMixFormer(embedding_dims=list(dims), serial_depths=list(depths),
                                              mlp_ratios=list(MLP_RATIOS[arch]))
    official = swap_sync_bn(official)
    shapes = OrderedDict((k, (tuple(v.shape), v.dtype)) for k, v in sorted(official.state_dict().items()))
    state = official_state_dict(shapes, seed)
    official.load_state_dict(state)
    ours.load_state_dict(OrderedDict((map_official(k), v) for k, v in state.items()), strict=True)
    return ours.eval(), official.eval()


# ----------------------------------------------------------------------------------------- timing
def time_once(model: nn.Module, x: torch.Tensor) -> float:
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def benchmark(arch, size, batch, args, official_module):
    ours, official = build_pair(arch, official_module)
    ours.to(args.device)
    if official is not None:
        official.to(args.device)
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(1)).to(args.device)
    result = dict(arch=arch, size=size, batch=batch)
    with torch.inference_mode():
        models = [('ours', ours)] + ([('official', official)] if official is not None else [])
        for _ in range(args.warmup):
            for _, model in models:
                model(x)
        times = {name: [] for name, _ in models}
        for _ in range(args.repeats):
            for name, model in models:  # interleaved: both see the same machine load
                times[name].append(time_once(model, x))
        for name, _ in models:
            result[f'{name}_img_s'] = batch / statistics.median(times[name])
        if official is not None:
            result['speedup'] = result['ours_img_s'] / result['official_img_s']
            if size % 32 == 0:
                ref, out = official(x).float(), ours(x).float()
                result['max_abs_logit_diff'] = (ref - out).abs().max().item()
                result['logit_scale'] = ref.abs().max().item()
                result['identical'] = result['max_abs_logit_diff'] <= 1e-4 * max(result['logit_scale'], 1.)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--archs', nargs='+', default=list(ZOO_SHAPES), choices=list(ZOO_SHAPES))
    parser.add_argument('--sizes', nargs='+', type=int, default=[224, 512])
    parser.add_argument('--batch-size', type=int, default=None,
                        help='images per forward (default: 8 at 224, 2 at 512, scaled by area)')
    parser.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    parser.add_argument('--repeats', type=int, default=5, help='timed runs per model (median reported)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed runs first')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--official-repo', default=None,
                        help='checkout of AILab-CVC/GroupMixFormer (outside this repo) to compare with')
    parser.add_argument('--json', default=None, help='also write the results to this JSON file')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    official_module = load_official(args.official_repo) if args.official_repo else None
    device = torch.cuda.get_device_name() if args.device.startswith('cuda') else f'CPU, {args.threads} threads'
    print(f'GroupMixFormer inference, fp32, {device}, torch {torch.__version__}; median of {args.repeats}')
    header = f'{"arch":>4} {"size":>5} {"batch":>5} {"ours img/s":>11}'
    if official_module is not None:
        header += f' {"official img/s":>15} {"speed-up":>9} {"max|dlogit|":>12}'
    print(header)
    results = []
    for arch in args.archs:
        for size in args.sizes:
            batch = args.batch_size or max(1, round(8 * (224 / size)**2))
            r = benchmark(arch, size, batch, args, official_module)
            results.append(r)
            line = f'{arch:>4} {size:>5} {batch:>5} {r["ours_img_s"]:>11.2f}'
            if official_module is not None:
                diff = r.get('max_abs_logit_diff')
                line += (f' {r["official_img_s"]:>15.2f} {r["speedup"]:>8.2f}x '
                         f'{"n/a" if diff is None else f"{diff:.2e}":>12}')
                if not r.get('identical', True):
                    line += '  MISMATCH'
            print(line, flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=device, torch=torch.__version__, repeats=args.repeats, results=results), f,
                      indent=2)
    if not all(r.get('identical', True) for r in results):
        print('logits differ from the official model beyond float round-off', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
