#!/usr/bin/env python
"""Inference images/s of a vitzoo classifier against timm's implementation, same machine, same run.

    python tools/analysis_tools/benchmark.py gcvit:t=gcvit_tiny davit:t=davit_tiny vit:b16=vit_base_patch16_224

Each pair ``FAMILY:ARCH=TIMM_NAME`` builds the classifier of the family's ImageNet config
(``configs/<family>/<family>-<arch>_*_in1k.py``) and ``timm.create_model(TIMM_NAME)`` with random weights, then times
``--repeats`` rounds of ``--iters`` forward passes in eval mode under ``torch.inference_mode``, alternating
the two models each round so that machine noise hits both alike, and prints the median images/s. On
CUDA it synchronises around each round (``--device cuda``, ``--dtype`` float16/bfloat16 for AMP).
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
import backbones  # noqa: E402,F401  (first: makes torchvision importable on CPU-only torch)
import torch  # noqa: E402

FAMILIES = ('gcvit', 'davit', 'groupmixformer', 'vit')


def build_ours(family: str, arch: str) -> torch.nn.Module:
    """The classifier of ``configs/<family>/<family>-<arch>_*_in1k.py``, random weights, eval mode."""
    import glob
    from mmengine.config import Config
    from mmengine.registry import MODELS, init_default_scope
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
    configs = sorted(glob.glob(os.path.join(root, 'configs', family, f'{family}-{arch}_*_in1k.py')))
    if not configs:
        raise SystemExit(f'benchmark.py: error: no configs/{family}/{family}-{arch}_*_in1k.py; '
                         f'check the arch name')
    cfg = Config.fromfile(configs[0])
    cfg.model.backbone.init_cfg = None
    init_default_scope(cfg.default_scope)
    return MODELS.build(cfg.model).eval()


def images_per_second(forward, batch: torch.Tensor, iters: int, device: str, timer) -> float:
    if device == 'cuda':
        torch.cuda.synchronize()
    start = timer()
    for _ in range(iters):
        forward(batch)
    if device == 'cuda':
        torch.cuda.synchronize()
    return batch.shape[0] * iters / (timer() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('pairs', nargs='+', help='FAMILY:ARCH=TIMM_NAME, e.g. gcvit:t=gcvit_tiny')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--size', type=int, default=224, help='input height and width')
    parser.add_argument('--iters', type=int, default=5, help='forward passes per timed round')
    parser.add_argument('--repeats', type=int, default=5, help='timed rounds (median reported)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed forward passes first')
    parser.add_argument('--threads', type=int, default=0, help='torch intra-op threads (0: leave as is)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--dtype', default='float32', choices=['float32', 'float16', 'bfloat16'])
    parser.add_argument('--timer', default='wall', choices=['wall', 'process'],
                        help="'process': CPU seconds of this process instead of wall time; robust to other load "
                        'on a shared machine (use with --threads 1: with more threads it counts total work)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import timm
    amp = args.dtype != 'float32'
    if args.timer == 'process' and args.device == 'cuda':
        parser.error('--timer process measures CPU time; use the wall timer on CUDA')
    timer = time.process_time if args.timer == 'process' else time.perf_counter
    print(f'device={args.device} dtype={args.dtype} threads={torch.get_num_threads()} batch={args.batch_size} '
          f'size={args.size} timer={args.timer} torch={torch.__version__} timm={timm.__version__}')
    for pair in args.pairs:
        try:
            ours_spec, timm_name = pair.split('=')
            family, arch = ours_spec.split(':')
        except ValueError:
            parser.error(f'bad pair {pair!r}: expected FAMILY:ARCH=TIMM_NAME, families {sorted(FAMILIES)}')
        if family not in FAMILIES:
            parser.error(f'unknown family {family!r}; choose from {sorted(FAMILIES)}')
        ours = build_ours(family, arch).to(args.device)
        theirs = timm.create_model(timm_name, pretrained=False, img_size=args.size) if family == 'vit' \
            else timm.create_model(timm_name, pretrained=False)
        theirs = theirs.eval().to(args.device)
        batch = torch.randn(args.batch_size, 3, args.size, args.size, device=args.device)
        forwards = {'vitzoo': lambda x: ours(x, mode='tensor'), 'timm': theirs}
        rates = {name: [] for name in forwards}
        with torch.inference_mode(), torch.autocast(args.device, dtype=getattr(torch, args.dtype), enabled=amp):
            for name, forward in forwards.items():
                for _ in range(args.warmup):
                    forward(batch)
            for _ in range(args.repeats):
                for name, forward in forwards.items():
                    rates[name].append(images_per_second(forward, batch, args.iters, args.device, timer))
        ours_rate, timm_rate = statistics.median(rates['vitzoo']), statistics.median(rates['timm'])
        print(f'{family}-{arch:6s} vitzoo {ours_rate:8.2f} img/s | timm {timm_name:24s} {timm_rate:8.2f} img/s | '
              f'ratio {ours_rate / timm_rate:.2f}x  (rounds: vitzoo {[round(r, 1) for r in rates["vitzoo"]]}, '
              f'timm {[round(r, 1) for r in rates["timm"]]})', flush=True)


if __name__ == '__main__':
    main()
