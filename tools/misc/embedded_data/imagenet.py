"""ImageNet-1K folder layout: ``{train,val}/n0000000d/*.JPEG`` (digit d) and ``meta/classes.txt``."""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict

import numpy as np

from .sources import DIGIT_NAMES, SPLIT_POOL, Sources, digit_tile, save_jpeg, split_pools

# Sizes of each set; small enough that every set together stays around 10 MB (ImageNet has the most
# images per class, so that a small transformer trained from scratch generalises to unseen writers).
IMAGENET_PER_CLASS = {'train': 300, 'val': 20}
IMAGENET_SIZE = 64


def write(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write the ImageNet-1K folder layout; returns image counts per split."""
    pools = split_pools(sources, rng)
    os.makedirs(osp.join(root, 'meta'))
    with open(osp.join(root, 'meta', 'classes.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(DIGIT_NAMES) + '\n')
    counts = {}
    val_index = 0
    for split, per_class in IMAGENET_PER_CLASS.items():
        for digit in range(10):
            wnid = f'n{digit:08d}'  # sorted folder order == digit order == class index
            folder = osp.join(root, split, wnid)
            os.makedirs(folder)
            for i in range(per_class):
                glyph = pools[SPLIT_POOL[split]].draw(digit, rng)
                image = digit_tile(sources.photos, glyph, IMAGENET_SIZE, rng)
                if split == 'train':
                    name = f'{wnid}_{i}.JPEG'
                else:
                    val_index += 1
                    name = f'ILSVRC2012_val_{val_index:08d}.JPEG'
                save_jpeg(image, osp.join(folder, name))
        counts[split] = per_class * 10
    return counts
