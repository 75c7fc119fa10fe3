"""ADE20K layout: ``images/{training,validation}/*.jpg`` and ``annotations/{training,validation}/*.png``."""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict

import cv2
import numpy as np
from PIL import Image

from .sources import SPLIT_POOL, Sources, make_scene, odd_side, save_jpeg, split_pools

# Many digits a scene, at about the size the classification demo learns them at (24-32 px): the segmentor's
# loss then carries several digits' classes per crop instead of one or two.
ADE_IMAGES = {'training': 512, 'validation': 48}
ADE_SIDE = (96, 160)
ADE_DIGIT_SIDE = (24, 40)
ADE_DIGITS_PER_SCENE = (4, 10)
ADE_BACKGROUND = 1  # ADE20K's reduce_zero_label maps 1 -> class 0 and d + 2 -> class d + 1
GLYPH_CELLS = 12  # a rendered digit's square is its padded 8x8 glyph: 12 cells a side (render_digit)


def digit_region(mask: np.ndarray) -> np.ndarray:
    """The pixels labelled as a digit: its strokes' filled outer outline, grown by one glyph cell.

    ADE20K labels whole objects, not their outlines. Strokes a few pixels wide, labelled alone, left
    the class to be read from a 2-3 pixel band (the segmentor learnt "digit here" but not which one);
    the filled, grown region is the object the class belongs to, and it stays inside the digit's
    square, which no other digit overlaps.

    Args:
        mask: The digit's boolean stroke mask over its square.

    Returns:
        A boolean mask of the same shape.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = cv2.drawContours(np.zeros(mask.shape, np.uint8), contours, -1, 1, thickness=cv2.FILLED)
    cell = max(1, round(mask.shape[0] / GLYPH_CELLS))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cell + 1, 2 * cell + 1))
    return cv2.dilate(filled, disc).astype(bool)


def write(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write the ADE20K image / annotation folders; returns image counts per split."""
    pools = split_pools(sources, rng)
    counts = {}
    for split, n_images in ADE_IMAGES.items():
        image_dir, label_dir = osp.join(root, 'images', split), osp.join(root, 'annotations', split)
        os.makedirs(image_dir)
        os.makedirs(label_dir)
        prefix = 'ADE_train' if split == 'training' else 'ADE_val'
        for i in range(1, n_images + 1):
            height, width = odd_side(*ADE_SIDE, rng), odd_side(*ADE_SIDE, rng)
            image, pasted = make_scene(sources, pools[SPLIT_POOL[split]], height, width,
                                       ADE_DIGIT_SIDE, rng, digits_per_scene=ADE_DIGITS_PER_SCENE)
            label = np.full((height, width), ADE_BACKGROUND, np.uint8)
            for digit in pasted:
                window = label[digit.y:digit.y + digit.mask.shape[0],
                               digit.x:digit.x + digit.mask.shape[1]]
                window[digit_region(digit.mask)] = digit.digit + 2
            save_jpeg(image, osp.join(image_dir, f'{prefix}_{i:08d}.jpg'))
            Image.fromarray(label, mode='L').save(osp.join(label_dir, f'{prefix}_{i:08d}.png'))
        counts[split] = n_images
    return counts
