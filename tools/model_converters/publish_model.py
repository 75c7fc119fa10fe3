#!/usr/bin/env python
"""Turn a training checkpoint you made into a weights-only file that loads safely anywhere.

    python tools/model_converters/publish_model.py work_dirs/run/epoch_300.pth checkpoints/my-model.pth

Keeps ``state_dict`` (the EMA weights with ``--ema`` when the run used EMAHook) and drops the optimizer,
schedulers and message hub, which hold Python objects that weights-only loading refuses. The input is
unpickled in full: use this only on checkpoints from your own runs.
"""
import argparse
import os
import sys
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from backbones.convert import save_atomic  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('src', help='an mmengine training checkpoint of yours')
    parser.add_argument('dst', help='the weights-only output (.pth)')
    parser.add_argument('--ema', action='store_true', help="publish the EMA weights ('ema_state_dict')")
    parser.add_argument('--force', action='store_true', help='overwrite dst if it exists')
    args = parser.parse_args(argv)
    if not os.path.isfile(args.src):
        parser.exit(2, f'publish_model.py: error: {args.src} does not exist\n')
    if os.path.exists(args.dst) and not args.force:
        parser.exit(2, f'publish_model.py: error: {args.dst} exists; pass --force to overwrite it\n')
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=False)
    key = 'ema_state_dict' if args.ema else 'state_dict'
    if key not in checkpoint:
        parser.exit(2, f'publish_model.py: error: {args.src} has no {key!r}\n')
    state_dict = checkpoint[key]
    if args.ema:  # EMAHook's averaged copy is stored as module.<name> plus a step counter
        state_dict = OrderedDict((k[len('module.'):], v) for k, v in state_dict.items() if k.startswith('module.'))
    meta = checkpoint.get('meta', {})
    published = {'state_dict': OrderedDict((k, v.detach().clone()) for k, v in state_dict.items()),
                 'meta': {k: meta[k] for k in ('epoch', 'iter', 'dataset_meta', 'mmengine_version') if k in meta}}
    save_atomic(published, args.dst)
    print(f'publish_model.py: wrote {len(state_dict)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
