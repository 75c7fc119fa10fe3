#!/usr/bin/env python
"""Write small, real, learnable data sets in the on-disk layouts OpenMMLab reads.

Every image is made from real data that ships inside installed packages, so nothing is downloaded:
the handwritten digits of scikit-learn's ``load_digits()`` (8x8, upscaled bicubically) composited in a
contrasting colour onto crops of the photos scikit-image ships in ``skimage.data``. The class of an
image or object is its digit, so a model can really learn the sets, and a broken pipeline shows up as
chance-level accuracy. Output is deterministic for a given ``--seed``: the same seed gives
byte-identical annotation files (and, with the same library versions, identical images).

Usage::

    python tools/misc/make_embedded_data.py [--out data/embedded] [--tasks imagenet coco ade20k cifar] [--seed 0]

Layout under ``--out`` and the dataset settings that read it (``DIR`` is the ``--out`` folder):

``imagenet/`` - ImageNet-1K folder layout, 10 classes (``n00000000`` .. ``n00000009`` = digits 0-9),
300 train and 20 val images (64x64) per class, and ``meta/classes.txt`` with the class names
(``zero`` .. ``nine``, one per line, in folder order). mmpretrain::

    dict(type='ImageNet', data_root='DIR/imagenet', split='train',  # or 'val'
         classes='DIR/imagenet/meta/classes.txt')  # path as seen from the cwd, NOT joined to data_root
    # or, class names taken from the folder names:
    dict(type='CustomDataset', data_root='DIR/imagenet', data_prefix='train')

    ``ImageNet`` needs ``classes`` (or ``metainfo=dict(classes=...)``) because its default 1000 ImageNet
    names do not match the 10 folders. There is deliberately no ``meta/train.txt``: with it, ``ImageNet``
    would read labels from the file and silently keep the 1000 default names.

``coco/`` - COCO instances: ``annotations/instances_{train,val}2017.json``, ``{train,val}2017/*.jpg``;
256 train and 32 val images of 128-224 px per side with 1-3 digits (in 40-88 px squares) each;
categories ``zero`` .. ``nine`` (ids 1-10, supercategory ``digit``); polygons trace the outer outline
of the digit strokes, ``bbox`` is their tight box and ``area`` their area; digits never overlap. mmdet::

    dict(type='CocoDataset', data_root='DIR/coco/',
         ann_file='annotations/instances_train2017.json', data_prefix=dict(img='train2017/'),
         metainfo=dict(classes=('zero', 'one', 'two', 'three', 'four',
                                'five', 'six', 'seven', 'eight', 'nine')))
    # and num_classes=10 in the bbox/mask heads.

``ade20k/`` - ADE20K layout: ``images/{training,validation}/*.jpg`` and
``annotations/{training,validation}/*.png`` (same basenames, single-channel uint8); 512 training and
48 validation images of 96-160 px per side with 4-10 digits (in 24-40 px squares) each, every digit
labelled as its filled outline grown by a glyph cell (ADE20K labels whole objects). Pixel values:
1 = background, digit d = d + 2, so after ``reduce_zero_label=True`` class 0 is background ("wall") and
classes 1-10 are the digits 0-9.
mmseg::

    dict(type='ADE20KDataset', data_root='DIR/ade20k',
         data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'))
    # Keep ADE20K's 150 classes (num_classes=150): ADE20KDataset rejects class names that are not
    # ADE20K names. For an 11-class head use instead
    # dict(type='BaseSegDataset', ..., img_suffix='.jpg', seg_map_suffix='.png',
    #      reduce_zero_label=True, metainfo=dict(classes=('background', 'zero', ..., 'nine')))

``cifar/`` - the official CIFAR python pickles: ``cifar-10-batches-py/{data_batch_1..5,test_batch,
batches.meta}`` (20 images per file, labels 0-9 = digits) and ``cifar-100-python/{train,test,meta}``
(100 train / 20 test images; fine label = a two-digit number 00-99 drawn as two digits, coarse label =
fine // 5). The pickles use Python-2 ``str`` keys like the originals, so they read as ``'data'`` with
``encoding='latin1'`` (mmpretrain, torchvision) and as ``b'data'`` with ``encoding='bytes'``.
mmpretrain's ``CIFAR10``/``CIFAR100`` always compare the files' md5 sums with the official ones (in
``_check_integrity``, whatever ``download`` is), so the stock classes refuse these files
(``download=False``: RuntimeError "Cannot find CIFAR10 dataset"). Load them with
``backbones.LocalCIFAR10`` / ``backbones.LocalCIFAR100``, which read the same format without the md5
check (see backbones/datasets.py)::

    dict(type='backbones.LocalCIFAR10', data_root='DIR/cifar', split='train')  # or split='test'

Each task folder is written into a temporary folder beside it and renamed into place when complete, with
a stamp file (``.embedded_data.json``) recording the seed; a complete set with the same seed is
reused unless ``--force`` is given. Folders without the stamp are never overwritten.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import shutil
import sys
from typing import Callable, Dict, Optional, Sequence

import numpy as np

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # the embedded_data package beside this script
from embedded_data import ade20k, cifar, coco, imagenet  # noqa: E402
from embedded_data.sources import Sources, load_sources, task_rng, write_json  # noqa: E402

FORMAT_VERSION = 6  # bump when the written content changes, so old stamps stop matching
STAMP_NAME = '.embedded_data.json'
TASKS = ('imagenet', 'coco', 'ade20k', 'cifar')
WRITERS: Dict[str, Callable[[str, Sources, np.random.Generator], Dict[str, int]]] = {
    'imagenet': imagenet.write, 'coco': coco.write, 'ade20k': ade20k.write, 'cifar': cifar.write}


class PlanError(Exception):
    """An existing folder that must not be reused or overwritten as asked."""


def read_stamp(folder: str) -> Optional[dict]:
    """Read the stamp of a folder written by this tool.

    Args:
        folder: The task folder.

    Returns:
        The stamp, or None when the folder has no (readable) stamp.
    """
    try:
        with open(osp.join(folder, STAMP_NAME), encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def plan_task(out: str, task: str, seed: int, force: bool) -> str:
    """Decide what to do with a task's folder, before anything is written.

    Args:
        out: The output root.
        task: The task name.
        seed: The requested seed.
        force: Whether to overwrite a set this tool wrote.

    Returns:
        ``'write'`` (no folder yet), ``'replace'`` or ``'reuse'``.

    Raises:
        PlanError: If the folder was not written by this tool, or holds a set made with another
            seed and ``force`` is not set (a set from an older format is replaced).
    """
    target = osp.join(out, task)
    if not osp.lexists(target):
        return 'write'
    stamp = read_stamp(target)
    if stamp is None:
        # Never delete what this tool did not write: --out might point at a real data folder.
        raise PlanError(f'{target} exists but was not written by this tool (no {STAMP_NAME}); '
                        'move it away or choose another --out')
    if force or stamp.get('format_version') != FORMAT_VERSION:
        return 'replace'  # an older version of this tool wrote it: nothing of the user's is lost
    if stamp.get('seed') == seed:
        return 'reuse'
    raise PlanError(f'{target} holds a set made with seed {stamp.get("seed")}, not seed {seed}; '
                    'pass --force to regenerate it')


def folder_kb(folder: str) -> int:
    """Total size of the files under a folder, in KB (rounded up).

    Args:
        folder: The folder.

    Returns:
        The size in KB.
    """
    total = sum(osp.getsize(osp.join(d, f)) for d, _, files in os.walk(folder) for f in files)
    return -(-total // 1024)


def build_task(out: str, task: str, seed: int, sources: Sources) -> Dict[str, int]:
    """Write one task's set into a temporary folder and move it into place when complete.

    Args:
        out: The output root (exists).
        task: The task name.
        seed: The seed.
        sources: The loaded sources.

    Returns:
        The writer's counts.
    """
    target = osp.join(out, task)
    # Beside the target, so the final rename stays on one file system and is atomic.
    tmp = osp.join(out, f'.{task}.tmp-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        counts = WRITERS[task](tmp, sources, task_rng(seed, task))
        # The stamp is written last: a folder that has one is complete.
        write_json({'tool': 'tools/misc/make_embedded_data.py', 'format_version': FORMAT_VERSION,
                    'task': task, 'seed': seed, 'counts': counts}, osp.join(tmp, STAMP_NAME))
        if osp.lexists(target):
            old = f'{tmp}-old'
            os.rename(target, old)
            os.rename(tmp, target)
            shutil.rmtree(old)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return counts


def describe(counts: Dict[str, int]) -> str:
    """Format a task's counts for the progress line.

    Args:
        counts: Counts by name.

    Returns:
        E.g. ``'160 train, 40 val'``.
    """
    return ', '.join(f'{n} {name}' for name, n in counts.items())


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and validate the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The arguments, with duplicate tasks removed.
    """
    summary, _, details = __doc__.partition('\n\n')
    parser = argparse.ArgumentParser(description=summary, epilog=details,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=osp.join('data', 'embedded'),
                        help='output folder (default: %(default)s)')
    parser.add_argument('--tasks', nargs='+', default=list(TASKS), choices=TASKS, metavar='TASK',
                        help=f'data sets to write, any of: {" ".join(TASKS)} (default: all)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed; the same seed writes identical annotations '
                        '(default: %(default)s)')
    parser.add_argument('--force', action='store_true',
                        help='regenerate sets this tool wrote before instead of reusing them')
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error(f'argument --seed: must be >= 0, got {args.seed}')
    if osp.exists(args.out) and not osp.isdir(args.out):
        parser.error(f'argument --out: {args.out!r} exists and is not a folder')
    args.tasks = list(dict.fromkeys(args.tasks))
    args.parser = parser
    return args


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    args = parse_args(argv)
    try:
        plans = {task: plan_task(args.out, task, args.seed, args.force) for task in args.tasks}
    except PlanError as e:
        args.parser.error(str(e))
    os.makedirs(args.out, exist_ok=True)
    sources = load_sources() if any(p != 'reuse' for p in plans.values()) else None
    for task, plan in plans.items():
        target = osp.join(args.out, task)
        if plan == 'reuse':
            counts = read_stamp(target)['counts']
            print(f'{task}: reusing the complete set at {target} (seed {args.seed}: '
                  f'{describe(counts)}; {folder_kb(target)} KB); --force regenerates it', flush=True)
            continue
        counts = build_task(args.out, task, args.seed, sources)
        verb = 'rewrote' if plan == 'replace' else 'wrote'
        print(f'{task}: {verb} {describe(counts)} to {target} (seed {args.seed}, '
              f'{folder_kb(target)} KB)', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
