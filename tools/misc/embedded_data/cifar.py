"""The official CIFAR-10 / CIFAR-100 python pickles (``cifar-10-batches-py/``, ``cifar-100-python/``)."""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List, Sequence

import numpy as np

from .sources import (DIGIT_NAMES, SPLIT_POOL, DigitPool, Sources, add_noise, digit_tile, paste,
                      photo_crop, render_digit, split_pools)
from .py2_pickle import dump_py2_pickle

CIFAR10_PER_BATCH = 20
CIFAR100_COUNTS = {'train': 100, 'test': 20}


def cifar_rows(images: List[np.ndarray]) -> np.ndarray:
    """Pack 32x32 RGB images into CIFAR rows: 1024 red, then green, then blue, each row-major.

    Args:
        images: (32, 32, 3) uint8 images.

    Returns:
        An (N, 3072) uint8 array.
    """
    return np.stack([image.transpose(2, 0, 1).reshape(-1) for image in images]).astype(np.uint8)


def two_digit_tile(photos: Sequence[np.ndarray], left: np.ndarray, right: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Make a 32x32 CIFAR-100 image showing a two-digit number.

    Args:
        photos: RGB uint8 background photos.
        left: Glyph of the tens digit.
        right: Glyph of the units digit.
        rng: The generator.

    Returns:
        A (32, 32, 3) uint8 image.
    """
    image = photo_crop(photos, 32, 32, rng)
    side = int(rng.integers(18, 21))
    y = int(rng.integers(32 - side + 1))
    # The glyphs' transparent borders may overlap; alpha blending keeps both digits intact.
    for glyph, x in ((left, int(rng.integers(0, 2))), (right, 32 - side - int(rng.integers(0, 2)))):
        paste(image, render_digit(glyph, side, rng.uniform(-10, 10)), x, y, rng)
    return add_noise(image, rng)


def cifar10_batch(sources: Sources, pool: DigitPool, labels: np.ndarray, batch_label: str,
                  first_index: int, rng: np.random.Generator) -> dict:
    """Build one CIFAR-10 batch dict.

    Args:
        sources: The loaded sources.
        pool: Digit pool of the split.
        labels: Digit of each image.
        batch_label: E.g. ``'training batch 1 of 5'``.
        first_index: Number of the first image, for unique file names.
        rng: The generator.

    Returns:
        The batch with Python-2-style (bytes) keys.
    """
    images = [digit_tile(sources.photos, pool.draw(int(d), rng), 32, rng) for d in labels]
    return {
        b'batch_label': batch_label.encode(),
        b'labels': [int(d) for d in labels],
        b'data': cifar_rows(images),
        b'filenames': [f'{DIGIT_NAMES[d]}_s_{first_index + i:06d}.png'.encode()
                       for i, d in enumerate(labels)],
    }


def fine_name(label: int) -> str:
    """Name of a CIFAR-100 fine class (a two-digit number), e.g. 7 -> ``'zero_seven'``.

    Args:
        label: Fine label, 0-99.

    Returns:
        The name.
    """
    return f'{DIGIT_NAMES[label // 10]}_{DIGIT_NAMES[label % 10]}'


def write(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write the CIFAR-10 and CIFAR-100 python pickles; returns image counts per file group."""
    pools = split_pools(sources, rng)
    c10 = osp.join(root, 'cifar-10-batches-py')
    os.makedirs(c10)
    balanced = np.arange(CIFAR10_PER_BATCH) % 10
    for b in range(1, 6):
        batch = cifar10_batch(sources, pools['train'], rng.permutation(balanced),
                              f'training batch {b} of 5', (b - 1) * CIFAR10_PER_BATCH, rng)
        dump_py2_pickle(batch, osp.join(c10, f'data_batch_{b}'))
    dump_py2_pickle(cifar10_batch(sources, pools['val'], rng.permutation(balanced),
                                  'testing batch 1 of 1', 0, rng), osp.join(c10, 'test_batch'))
    dump_py2_pickle({b'num_cases_per_batch': CIFAR10_PER_BATCH,
                     b'label_names': [name.encode() for name in DIGIT_NAMES],
                     b'num_vis': 3072}, osp.join(c10, 'batches.meta'))

    c100 = osp.join(root, 'cifar-100-python')
    os.makedirs(c100)
    splits = {'train': rng.permutation(100)[:CIFAR100_COUNTS['train']],
              'test': rng.choice(100, CIFAR100_COUNTS['test'], replace=False)}
    for split, fine in splits.items():
        pool = pools[SPLIT_POOL[split]]
        images = [two_digit_tile(sources.photos, pool.draw(int(f) // 10, rng),
                                 pool.draw(int(f) % 10, rng), rng) for f in fine]
        dump_py2_pickle({
            b'filenames': [f'{fine_name(int(f))}_s_{i:06d}.png'.encode() for i, f in enumerate(fine)],
            b'batch_label': f'{"training" if split == "train" else "testing"} batch 1 of 1'.encode(),
            b'fine_labels': [int(f) for f in fine],
            b'coarse_labels': [int(f) // 5 for f in fine],  # 20 superclasses of 5, as in CIFAR-100
            b'data': cifar_rows(images),
        }, osp.join(c100, split))
    dump_py2_pickle({
        b'fine_label_names': [fine_name(f).encode() for f in range(100)],
        b'coarse_label_names': [f'numbers_{5 * c:02d}_to_{5 * c + 4:02d}'.encode() for c in range(20)],
    }, osp.join(c100, 'meta'))
    return {'cifar-10 train': 5 * CIFAR10_PER_BATCH, 'cifar-10 test': CIFAR10_PER_BATCH,
            'cifar-100 train': CIFAR100_COUNTS['train'], 'cifar-100 test': CIFAR100_COUNTS['test']}

