#!/usr/bin/env python
"""Images/s and peak memory of vitzoo's classifiers against timm and the official GroupMixFormer, one run.

    python tools/analysis_tools/benchmark.py                                   # every family, the full grid
    python tools/analysis_tools/benchmark.py --families gcvit davit --dtypes bf16 --modes eager --tasks infer
    python tools/analysis_tools/benchmark.py --families groupmixformer --official-repo /path/to/GroupMixFormer
    python tools/analysis_tools/benchmark.py --families gcvit --tasks train --modes eager --with-cp --cp-stages all 2

Pairs (``--families``): ``gcvit`` (ours ``t`` against timm ``gcvit_tiny``), ``davit`` (``t`` / ``davit_tiny``),
``vit`` (``b16`` / ``vit_base_patch16_224``) and ``groupmixformer`` (``--gmf-arch``, default ``s``, against the
official code of an AILab-CVC/GroupMixFormer checkout *outside* this repository, ``--official-repo``; without
it the family is skipped). Ours is the classifier of ``configs/<family>/<family>-<arch>_*_in1k.py``
(SyncBN reverted to BN). timm's models get random weights and the stochastic depth and dropout rates of
our config; the official GroupMixFormer gets the same
weights as ours (through the converter's key mapping), and its logits are checked against ours.

For every ``--dtypes`` (``fp32``; ``bf16``/``fp16``: autocast) x ``--modes`` (``eager``; ``compiled``:
``torch.compile`` with inductor) x ``--tasks`` (``infer``: eval mode under ``torch.inference_mode``;
``train``: forward, cross-entropy, backward and an AdamW step), both implementations are timed in one
process, interleaved: each of ``--repeats`` rounds times ``--iters`` steps of ours, then of the reference,
after ``--warmup`` untimed steps, so machine load hits both alike. Reported: the median images/s (wall
time), the spread of the rounds (min-max, % of the median), the ratio ours / reference, and peak memory.

Peak memory of one step (after the timed ones): on CUDA ``torch.cuda.max_memory_allocated`` above what
was allocated before the step. On the CPU, the growth of the process's resident set during the step:
freed heap memory is first returned to the OS (glibc ``malloc_trim``), the kernel's peak-RSS mark is
reset (``/proc/self/clear_refs``, Linux), and the peak (``VmHWM``) minus the RSS before the step is
reported: activations, gradients and temporaries, whatever allocated them (tracemalloc sees no torch
allocation). Linux only; elsewhere it prints ``n/a``.

``--gmf-fuse`` times our GroupMixFormer's inference with its BatchNorms folded (``model.fuse()``).
``--with-cp`` adds, per family, dtype and ``--cp-stages`` value, ours' eager training step with gradient
checkpointing (``with_cp=True``, ``cp_stages``: ``all`` or how many stages) against ours without: the time
ratio, and two peak-memory ratios. One is of the resident-set growth above. The other is of tensor
memory: one training step in a fresh process whose glibc malloc gives every block of 64 KiB or more its
own mapping, handed back when freed (``MALLOC_MMAP_THRESHOLD_``), so that its resident-set growth follows
the live tensors, as ``torch.cuda.max_memory_allocated`` does on a GPU. Checkpointing frees many
short-lived tensors, and in a normal process malloc keeps part of their heap pages, which the first
measure counts.

``--profile`` adds, for every eager row, where the time of one step goes: ``torch.profiler``'s self CPU
time of each operator, grouped by kind (matrix products and convolutions; copies, permutes and other
layout changes; casts, i.e. ``to``/``_to_copy`` and the copies they run, which autocast adds; norms;
softmax and fused attention; elementwise ops, optimizer included; the rest), as percent of the total.
Unlike wall time this barely depends on the machine's load.
"""
import argparse
import copy
import ctypes
import glob
import importlib.util
import json
import os
import statistics
import sys
import time
import types
from collections import OrderedDict, defaultdict
from typing import Optional

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tools', 'model_converters'))
import backbones  # noqa: E402,F401  (first: makes torchvision importable on CPU-only torch)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# family -> (our arch, timm name); GroupMixFormer's reference is the official code
PAIRS = OrderedDict(gcvit=('t', 'gcvit_tiny'), davit=('t', 'davit_tiny'), vit=('b16', 'vit_base_patch16_224'),
                    groupmixformer=(None, None))
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


# ------------------------------------------------------------------------------------------- models
def build_ours(family: str, arch: str, with_cp: bool = False, cp_stages: Optional[int] = None) -> nn.Module:
    """The classifier of ``configs/<family>/<family>-<arch>_*_in1k.py`` with random weights, BN for SyncBN
    (``with_cp``, ``cp_stages``: the backbone's checkpointing)."""
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import MODELS, init_default_scope
    configs = sorted(glob.glob(os.path.join(REPO, 'configs', family, f'{family}-{arch}_*_in1k.py')))
    if not configs:
        raise SystemExit(f'benchmark.py: error: no configs/{family}/{family}-{arch}_*_in1k.py; check the arch name')
    cfg = Config.fromfile(configs[0])
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.with_cp = with_cp
    cfg.model.backbone.cp_stages = cp_stages
    init_default_scope(cfg.default_scope)
    return revert_sync_batchnorm(MODELS.build(cfg.model))


class Logits(nn.Module):
    """``model(x, mode='tensor')`` of an mmpretrain classifier as a plain ``forward(x)``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, mode='tensor')


def _rearrange(tensor: torch.Tensor, pattern: str, **sizes) -> torch.Tensor:
    """A minimal ``einops.rearrange`` (axis names and parenthesised groups), for running the official
    GroupMixFormer file where einops is not installed."""

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

    def product(names):
        size = 1
        for name in names:
            size *= known.get(name, 1)
        return size

    left, right = (parse(side) for side in pattern.split('->'))
    known = dict(sizes)
    for group, dim in zip(left, tensor.shape):
        unknown = [name for name in group if name not in known]
        if len(unknown) == 1:
            known[unknown[0]] = dim // product(group)
    names = [name for group in left for name in group]
    x = tensor.reshape([known[name] for name in names])
    x = x.permute([names.index(name) for group in right for name in group])
    return x.reshape([product(group) for group in right])


def load_official(repo: str):
    """Import ``models/groupmixformer.py`` from an official checkout (outside this repository).

    Only this Python session is adjusted: ``ipdb`` (imported, unused) is stubbed, and ``einops`` by
    :func:`_rearrange` if it is not installed. Nothing is copied from or written to the checkout.
    """
    repo = os.path.abspath(repo)
    path = os.path.join(repo, 'models', 'groupmixformer.py')
    if os.path.commonpath([repo, REPO]) == REPO:
        raise SystemExit('--official-repo must be outside this repository (official code is not part of it)')
    if not os.path.isfile(path):
        raise SystemExit(f'--official-repo: {path} not found; pass a checkout of AILab-CVC/GroupMixFormer')
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


def seeded_official_state(official: nn.Module, seed: int = 0) -> 'OrderedDict[str, torch.Tensor]':
    """Deterministic random weights in the official layout, with non-trivial BatchNorm statistics."""
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for key, value in sorted(official.state_dict().items()):
        if key.endswith('num_batches_tracked'):
            state[key] = torch.zeros_like(value)
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif 'norm' in key and key.endswith('weight'):
            state[key] = 1 + 0.1 * torch.randn(value.shape, generator=gen)
        else:
            state[key] = 0.02 * torch.randn(value.shape, generator=gen)
    return state


def build_groupmixformer_pair(arch: str, official_module):
    """Our GroupMixFormer classifier and the official one with the same weights."""
    from mmengine.model import revert_sync_batchnorm
    from groupmixformer_to_mm import map_official
    from backbones.groupmixformer import GroupMixFormer
    settings = GroupMixFormer.arch_zoo[GroupMixFormer.arch_aliases.get(arch, arch)]
    official = official_module.GroupMixFormer(embedding_dims=list(settings['embed_dims']),
                                              serial_depths=list(settings['depths']),
                                              mlp_ratios=list(settings['mlp_ratios']))
    official = revert_sync_batchnorm(official)
    state = seeded_official_state(official)
    official.load_state_dict(state)
    ours = build_ours('groupmixformer', arch)
    ours.load_state_dict(OrderedDict((map_official(k), v) for k, v in state.items()), strict=True)
    return ours, official


def build_pair(family: str, args, official_module):
    """``(ours, reference, reference name)`` as plain ``forward(x) -> logits`` modules, or None."""
    if family == 'groupmixformer':
        if official_module is None:
            return None
        ours, official = build_groupmixformer_pair(args.gmf_arch, official_module)
        return Logits(ours), official, 'official'
    import timm
    arch, timm_name = PAIRS[family]
    ours = build_ours(family, arch)
    kwargs = dict(img_size=args.size) if family == 'vit' else {}
    kwargs.update(regularisation_of(ours, family))
    return Logits(ours), timm.create_model(timm_name, pretrained=False, **kwargs), timm_name


def regularisation_of(model: nn.Module, family: str) -> dict:
    """timm keyword arguments for the stochastic depth and dropout our config trains with, so that a
    training step does the same work on both sides (timm's models default to neither)."""
    from mmcv.cnn.bricks import DropPath
    drop_path = max((m.drop_prob for m in model.modules() if isinstance(m, DropPath)), default=0.)
    dropout = max((m.p for m in model.backbone.modules() if isinstance(m, nn.Dropout)), default=0.)
    kwargs = dict(drop_path_rate=round(float(drop_path), 6))
    if family == 'vit' and dropout:  # Google's ViT: dropout after the position embedding and in every block
        kwargs.update(pos_drop_rate=float(dropout), proj_drop_rate=float(dropout))
    elif dropout:
        kwargs.update(proj_drop_rate=float(dropout))
    return kwargs


# -------------------------------------------------------------------------------------------- steps
class Step:
    """One timed unit of work on one model: an inference forward, or a training step (forward,
    cross-entropy, backward, AdamW step)."""

    def __init__(self, model: nn.Module, task: str, dtype: torch.dtype, compiled: bool, device: str):
        self.task, self.dtype, self.device = task, dtype, device
        self.model = model.to(device).train(task == 'train')
        self.forward = torch.compile(self.model) if compiled else self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4) if task == 'train' else None

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> None:
        autocast = torch.autocast(self.device, dtype=self.dtype, enabled=self.dtype != torch.float32)
        if self.task == 'infer':
            with torch.inference_mode(), autocast:
                self.forward(x)
            return
        with autocast:
            loss = F.cross_entropy(self.forward(x).float(), labels)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def _rss_kib(field: str) -> int:
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise OSError(field)


def peak_memory_mib(step: Step, x: torch.Tensor, labels: torch.Tensor):
    """Peak memory one step adds (MiB), see the module docstring; None where it cannot be measured."""
    if step.device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        step(x, labels)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)  # freed heap pages back to the OS: not counted as in use
        with open('/proc/self/clear_refs', 'w') as clear:
            clear.write('5')  # reset the peak-RSS mark to the current RSS
        before = _rss_kib('VmRSS')
    except OSError:
        return None
    step(x, labels)
    return (_rss_kib('VmHWM') - before) / 1024


# glibc's threshold above which malloc maps (and on free unmaps) each block: 64 KiB, for tensor_peak_mib
TENSOR_MEMORY_ENV = {'MALLOC_MMAP_THRESHOLD_': str(64 * 1024)}


def tensor_peak_mib(args, family: str, dtype: str, with_cp: bool, cp_stages: Optional[int]) -> Optional[float]:
    """Peak tensor memory (MiB) of one eager training step of ours, measured in a fresh process (see the
    module docstring); None where it cannot be measured."""
    import subprocess
    if args.device != 'cpu' or not sys.platform.startswith('linux'):
        return None
    command = [sys.executable, os.path.abspath(__file__), '--tensor-memory-of', family, dtype,
               'all' if cp_stages is None else str(cp_stages), '--batch-size', str(args.batch_size),
               '--size', str(args.size), '--gmf-arch', args.gmf_arch, '--threads', str(torch.get_num_threads())]
    if not with_cp:
        command.append('--no-cp')
    run = subprocess.run(command, env=dict(os.environ, **TENSOR_MEMORY_ENV), capture_output=True, text=True)
    lines = run.stdout.split()
    if run.returncode or not lines:
        print(f'  tensor memory of {family} {dtype}: the measuring process failed: {run.stderr.strip()[-300:]}')
        return None
    return float(lines[-1])


def _tensor_memory_child(args) -> int:
    """``--tensor-memory-of FAMILY DTYPE CP_STAGES``: print the peak memory of one training step of ours."""
    family, dtype, cp_stages = args.tensor_memory_of
    model = Logits(build_ours(family, PAIRS[family][0] or args.gmf_arch, with_cp=not args.no_cp,
                              cp_stages=None if cp_stages == 'all' else int(cp_stages)))
    step = Step(model, 'train', DTYPES[dtype], False, 'cpu')
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.size, args.size, generator=gen)
    labels = torch.randint(0, 1000, (args.batch_size, ), generator=gen)
    for _ in range(2):  # optimizer state and first-call buffers in place
        step(x, labels)
    print(peak_memory_mib(step, x, labels))
    return 0


def measure(steps, x, labels, args):
    """Interleaved timing of ``steps`` (name -> Step): images/s per round, then peak memory."""
    for _ in range(args.warmup):
        for step in steps.values():
            step(x, labels)
    rates = {name: [] for name in steps}
    for _ in range(args.repeats):
        for name, step in steps.items():
            _sync(args.device)
            start = time.perf_counter()
            for _ in range(args.iters):
                step(x, labels)
            _sync(args.device)
            rates[name].append(x.shape[0] * args.iters / (time.perf_counter() - start))
    return {
        name: dict(img_s=statistics.median(r), spread_pct=100 * (max(r) - min(r)) / statistics.median(r), rounds=r,
                   peak_mib=peak_memory_mib(steps[name], x, labels))
        for name, r in rates.items()
    }


# Operator kinds of --profile, by aten name (without ``aten::``); the first kind whose words match wins.
OP_KINDS = OrderedDict([
    ('softmax/attn', ('softmax', 'attention')),
    ('matmul/conv', ('mm', 'addmm', 'bmm', 'baddbmm', 'addbmm', 'matmul', 'linear', 'conv', 'dot', 'mkldnn')),
    ('norm', ('norm', )),
    ('copy/layout', ('copy_', 'clone', 'contiguous', 'permute', 'transpose', 'reshape', 'view', 'as_strided',
                     'cat', 'stack', 'pad', 'split', 'narrow', 'slice', 'select', 'expand', 'squeeze', 'flatten',
                     'roll', 'index', 'gather', 'scatter', 'unfold', 'repeat', 't', 'unbind', 'chunk', 'col2im',
                     'im2col', 'alias')),
    ('elementwise', ('add', 'sub', 'mul', 'div', 'gelu', 'hardswish', 'silu', 'sigmoid', 'relu', 'threshold',
                     'where', 'neg', 'fill', 'zero', 'exp', 'sqrt', 'rsqrt', 'pow', 'lerp', 'addcmul', 'addcdiv',
                     'foreach', 'clamp', 'masked_fill', 'dropout', 'tanh', 'erf', 'abs', 'sign', 'maximum',
                     'minimum')),
])
KIND_COLUMNS = ('matmul/conv', 'copy/layout', 'cast', 'norm', 'softmax/attn', 'elementwise', 'other')


def op_kind(name: str, parents) -> str:
    """Kind of the aten operator ``name`` called from ``parents`` (names, innermost first)."""
    if not name.startswith('aten::'):
        return 'other'  # autograd nodes, profiler records: bookkeeping
    op = name[len('aten::'):].lstrip('_')
    if op in ('to', 'to_copy') or (op == 'copy_' and any(p in ('aten::to', 'aten::_to_copy') for p in parents)):
        return 'cast'
    words = op.split('_')
    for kind, names in OP_KINDS.items():
        if any(n == op or n in words or (len(n) > 3 and op.startswith(n)) for n in names):
            return kind
    return 'other'


def profile_by_kind(step: 'Step', x: torch.Tensor, labels: torch.Tensor) -> dict:
    """Self CPU time of one step (ms) per operator kind, see ``--profile``."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(x, labels)
    totals = defaultdict(float)
    for event in prof.events():
        parents, parent = [], event.cpu_parent
        while parent is not None and len(parents) < 3:
            parents.append(parent.name)
            parent = parent.cpu_parent
        totals[op_kind(event.name, parents)] += event.self_cpu_time_total / 1e3
    return dict(totals)


def _fmt_profile(totals: dict) -> str:
    total = sum(totals.values())
    return ' '.join(f'{100 * totals.get(k, 0.) / total:{len(k)}.0f}' for k in KIND_COLUMNS) + f' {total:9.0f}'


def _fmt(result) -> str:
    mem = 'n/a' if result['peak_mib'] is None else f'{result["peak_mib"]:.0f}'
    return f'{result["img_s"]:8.2f} ±{result["spread_pct"]:3.0f}% {mem:>7}'


def _mib(value: Optional[float]) -> str:
    return 'n/a' if value is None else f'{value:.0f}'


def _ratio(a: dict, b: dict, key: str) -> str:
    return 'n/a' if a.get(key) is None or not b.get(key) else f'{a[key] / b[key]:.2f}'


def _cp_stages_arg(value: str) -> Optional[int]:
    if value == 'all':
        return None
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f'{value!r} is not "all" or a number of stages')
    return int(value)


def check_logits(ours: nn.Module, official: nn.Module, x: torch.Tensor) -> str:
    """Largest logit difference between ours and the official model (eval mode, fp32)."""
    with torch.inference_mode():
        a, b = ours.eval()(x).float(), official.eval()(x).float()
    diff, scale = (a - b).abs().max().item(), b.abs().max().item()
    flag = '' if diff <= 1e-4 * max(scale, 1.) else '  MISMATCH'
    return f'max |logit diff| vs official {diff:.1e} (logits up to {scale:.2f}){flag}'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--families', nargs='+', default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument('--dtypes', nargs='+', default=['fp32', 'bf16'], choices=list(DTYPES))
    parser.add_argument('--modes', nargs='+', default=['eager', 'compiled'], choices=['eager', 'compiled'])
    parser.add_argument('--tasks', nargs='+', default=['infer', 'train'], choices=['infer', 'train'])
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--size', type=int, default=224, help='input height and width')
    parser.add_argument('--iters', type=int, default=1, help='steps per timed round')
    parser.add_argument('--repeats', type=int, default=5, help='timed rounds (median and spread reported)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed steps first (compiled: includes the compile)')
    parser.add_argument('--threads', type=int, default=0, help='torch intra-op threads (0: leave as is)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--official-repo', default=None,
                        help='checkout of AILab-CVC/GroupMixFormer (outside this repo) for the groupmixformer pair')
    parser.add_argument('--gmf-arch', default='s', choices=['m', 't', 's', 'b', 'l'], help='GroupMixFormer variant')
    parser.add_argument('--gmf-fuse', action='store_true',
                        help='inference rows: our GroupMixFormer with its BatchNorms folded (model.fuse())')
    parser.add_argument('--with-cp', action='store_true',
                        help='also: ours with gradient checkpointing against ours without (eager training)')
    parser.add_argument('--cp-stages', nargs='+', default=[None], type=_cp_stages_arg,
                        help='with --with-cp: cp_stages values to compare, "all" or a number of stages')
    parser.add_argument('--tensor-memory-of', nargs=3, metavar=('FAMILY', 'DTYPE', 'CP_STAGES'),
                        help=argparse.SUPPRESS)  # the measuring process of tensor_peak_mib
    parser.add_argument('--no-cp', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--profile', action='store_true',
                        help='eager rows: also the self CPU time of one step by operator kind (percent)')
    parser.add_argument('--json', default=None, help='also write every measurement to this JSON file')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.tensor_memory_of:
        return _tensor_memory_child(args)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device here; use --device cpu')
    if 'fp16' in args.dtypes and args.device == 'cpu':
        print('note: fp16 autocast on the CPU runs, but few CPU kernels are fast in fp16', flush=True)
    if args.with_cp:  # a cp_stages value some family lacks: refused now, not after the first rows
        for family in args.families:
            arch = PAIRS[family][0] or args.gmf_arch
            for cp_stages in args.cp_stages:
                try:
                    build_ours(family, arch, with_cp=True, cp_stages=cp_stages)
                except ValueError as err:
                    parser.error(f'--cp-stages {cp_stages}: {err}')
    official_module = load_official(args.official_repo) if args.official_repo else None
    import timm
    print(f'device={args.device} threads={torch.get_num_threads()} batch={args.batch_size} size={args.size} '
          f'repeats={args.repeats} iters={args.iters} torch={torch.__version__} timm={timm.__version__}')
    print('img/s: median of the rounds, ±: their spread (max-min, % of the median); MiB: peak memory of one step')
    print(f'{"family":16s} {"task":5s} {"dtype":5s} {"mode":8s} {"ours img/s":>12s} {"MiB":>7s} '
          f'{"ref img/s":>12s} {"MiB":>7s} {"ratio":>6s}  reference')
    records = []
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch_size, 3, args.size, args.size, generator=gen).to(args.device)
    labels = torch.randint(0, 1000, (args.batch_size, ), generator=gen).to(args.device)
    for family in args.families:
        pair = build_pair(family, args, official_module)
        if pair is None:
            print(f'{family:16s} skipped: pass --official-repo PATH (a checkout of AILab-CVC/GroupMixFormer)')
            continue
        ours, reference, ref_name = pair
        if family == 'groupmixformer':
            print(f'{family:16s} {check_logits(ours, reference, x[:2].cpu())}', flush=True)
        initial = {'ours': copy.deepcopy(ours.state_dict()), 'ref': copy.deepcopy(reference.state_dict())}
        for task in args.tasks:
            for dtype in args.dtypes:
                for mode in args.modes:
                    if mode == 'compiled':
                        torch.compiler.reset()  # fresh graphs per configuration
                    ours.load_state_dict(initial['ours']), reference.load_state_dict(initial['ref'])
                    mine = ours
                    if family == 'groupmixformer' and args.gmf_fuse and task == 'infer':
                        mine = copy.deepcopy(ours).eval()
                        mine.model.backbone.fuse()
                    steps = {name: Step(model, task, DTYPES[dtype], mode == 'compiled', args.device)
                             for name, model in (('ours', mine), ('ref', reference))}
                    result = measure(steps, x, labels, args)
                    ratio = result['ours']['img_s'] / result['ref']['img_s']
                    print(f'{family:16s} {task:5s} {dtype:5s} {mode:8s} {_fmt(result["ours"])} {_fmt(result["ref"])} '
                          f'{ratio:5.2f}x  {ref_name}{"  (ours fused)" if mine is not ours else ""}', flush=True)
                    records.append(dict(family=family, task=task, dtype=dtype, mode=mode, reference=ref_name,
                                        ours_fused=mine is not ours,
                                        ratio=ratio, **{k: v for k, v in result.items()}))
                    if args.profile and mode == 'eager':
                        print(f'{"  profile, % of self CPU time":42s} {" ".join(KIND_COLUMNS)}  total ms')
                        for name, step in steps.items():
                            totals = profile_by_kind(step, x, labels)
                            print(f'{"  " + (ref_name if name == "ref" else "ours"):42s} {_fmt_profile(totals)}',
                                  flush=True)
                            records[-1][f'{name}_profile_ms'] = totals
        if args.with_cp:
            arch = PAIRS[family][0] or args.gmf_arch
            plain_tensor_mib = {dtype: tensor_peak_mib(args, family, dtype, False, None) for dtype in args.dtypes}
            for cp_stages in args.cp_stages:
                cp_model = Logits(build_ours(family, arch, with_cp=True, cp_stages=cp_stages))
                label = f'cp:{"all" if cp_stages is None else cp_stages}'
                for dtype in args.dtypes:
                    cp_model.load_state_dict(ours.state_dict())
                    steps = {name: Step(model, 'train', DTYPES[dtype], False, args.device)
                             for name, model in (('plain', ours), ('with_cp', cp_model))}
                    result = measure(steps, x, labels, args)
                    plain, cp = result['plain'], result['with_cp']
                    cp['tensor_peak_mib'] = tensor_peak_mib(args, family, dtype, True, cp_stages)
                    plain['tensor_peak_mib'] = plain_tensor_mib[dtype]
                    speed = cp['img_s'] / plain['img_s']
                    print(f'{family:16s} train {dtype:5s} {label:8s} {_fmt(cp)} {_fmt(plain)} {speed:5.2f}x  '
                          f'ours without with_cp; time ratio {plain["img_s"] / cp["img_s"]:.2f}, peak memory '
                          f'ratio {_ratio(cp, plain, "peak_mib")} (tensors: {_ratio(cp, plain, "tensor_peak_mib")}, '
                          f'{_mib(cp["tensor_peak_mib"])} / {_mib(plain["tensor_peak_mib"])} MiB)', flush=True)
                    records.append(dict(family=family, task='train', dtype=dtype, mode=f'eager {label}',
                                        cp_stages=cp_stages, **result))
        del ours, reference, pair
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=args.device, threads=torch.get_num_threads(), torch=torch.__version__,
                           batch=args.batch_size, size=args.size, results=records), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
