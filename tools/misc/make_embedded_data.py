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
96 train and 24 val images of 128-224 px per side with 1-3 digits (in 40-88 px squares) each;
categories ``zero`` .. ``nine`` (ids 1-10, supercategory ``digit``); polygons trace the outer outline
of the digit strokes, ``bbox`` is their tight box and ``area`` their area; digits never overlap. mmdet::

    dict(type='CocoDataset', data_root='DIR/coco/',
         ann_file='annotations/instances_train2017.json', data_prefix=dict(img='train2017/'),
         metainfo=dict(classes=('zero', 'one', 'two', 'three', 'four',
                                'five', 'six', 'seven', 'eight', 'nine')))
    # and num_classes=10 in the bbox/mask heads.

``ade20k/`` - ADE20K layout: ``images/{training,validation}/*.jpg`` and
``annotations/{training,validation}/*.png`` (same basenames, single-channel uint8); 64 training and
16 validation images of 128-224 px per side with 1-3 digits (in 40-96 px squares) each. Pixel values:
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
import pickle
import shutil
import struct
import sys
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

FORMAT_VERSION = 3  # bump when the written content changes, so old stamps stop matching
STAMP_NAME = '.embedded_data.json'
TASKS = ('imagenet', 'coco', 'ade20k', 'cifar')
DIGIT_NAMES = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
JPEG_QUALITY = 88
# (skimage.data loader, file it reads from the skimage install). Only loaders whose file ships with
# scikit-image are called: the others would try to download it.
PHOTO_SOURCES = (
    ('astronaut', 'astronaut.png'), ('coffee', 'coffee.png'), ('chelsea', 'chelsea.png'),
    ('rocket', 'rocket.jpg'), ('coins', 'coins.png'), ('camera', 'camera.png'),
    ('brick', 'brick.png'), ('grass', 'grass.png'), ('gravel', 'gravel.png'), ('moon', 'moon.png'),
    ('hubble_deep_field', 'hubble_deep_field.jpg'), ('immunohistochemistry', 'ihc.png'),
)
VAL_FRACTION = 0.25  # share of each digit class kept for val/test images, disjoint from train
# Digit pool ('train' or 'val') that each split of each layout draws from.
SPLIT_POOL = {'train': 'train', 'val': 'val', 'test': 'val', 'train2017': 'train', 'val2017': 'val',
              'training': 'train', 'validation': 'val'}

# Sizes of each set; small enough that every set together stays around 10 MB (ImageNet has the most
# images per class, so that a small transformer trained from scratch generalises to unseen writers).
IMAGENET_PER_CLASS = {'train': 300, 'val': 20}
IMAGENET_SIZE = 64
# The detection and segmentation scenes are small, with 1-3 large digits each, so that a model fine-tuned
# from the classification demo learns them within a few minutes on a CPU (the demo's time limit).
COCO_IMAGES = {'train2017': 96, 'val2017': 24}
COCO_SIDE = (128, 224)
COCO_DIGIT_SIDE = (40, 88)
ADE_IMAGES = {'training': 64, 'validation': 16}
ADE_SIDE = (128, 224)
ADE_DIGIT_SIDE = (40, 96)
DIGITS_PER_SCENE = (1, 3)
CIFAR10_PER_BATCH = 20
CIFAR100_COUNTS = {'train': 100, 'test': 20}
ADE_BACKGROUND = 1  # ADE20K's reduce_zero_label maps 1 -> class 0 and d + 2 -> class d + 1


# ----------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Sources:
    """The real images every data set is made from.

    Attributes:
        glyphs: Digit images, float32 in [0, 1], shape (N, 8, 8).
        labels: Digit of each glyph, shape (N,).
        photos: RGB uint8 background photos.
    """

    glyphs: np.ndarray
    labels: np.ndarray
    photos: Tuple[np.ndarray, ...]


def load_sources() -> Sources:
    """Load the digits and the offline photos.

    Returns:
        The loaded sources.

    Raises:
        RuntimeError: If scikit-image ships none of the photos.
    """
    import skimage.data
    from sklearn.datasets import load_digits

    digits = load_digits()
    glyphs = (digits.images / 16.0).astype(np.float32)
    photos = []
    for loader, filename in PHOTO_SOURCES:
        if not osp.isfile(osp.join(skimage.data.data_dir, filename)):
            continue
        photos.append(to_rgb(getattr(skimage.data, loader)()))
    if not photos:
        raise RuntimeError(f'none of the photos {[f for _, f in PHOTO_SOURCES]} ships in '
                           f'{skimage.data.data_dir}; cannot make backgrounds offline')
    return Sources(glyphs=glyphs, labels=digits.target.astype(np.int64), photos=tuple(photos))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Convert a gray, boolean, RGB or RGBA skimage photo to RGB uint8.

    Args:
        image: The photo as loaded by ``skimage.data``.

    Returns:
        An (H, W, 3) uint8 array.
    """
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3].astype(np.uint8))


def task_rng(seed: int, task: str) -> np.random.Generator:
    """Make the random generator of one task.

    Each task draws from its own stream so that generating a subset of the tasks writes exactly
    the same files as generating all of them.

    Args:
        seed: The user's seed.
        task: The task name.

    Returns:
        A generator seeded by (seed, task).
    """
    return np.random.default_rng([seed, zlib.crc32(task.encode())])


class DigitPool:
    """Draws glyphs of a requested digit from one split (train or val) of ``load_digits``."""

    def __init__(self, sources: Sources, rng: np.random.Generator, split: str) -> None:
        """Split each class into train and val glyphs and keep those of ``split``.

        Args:
            sources: The loaded sources.
            rng: Generator deciding the split; the same state gives the same split.
            split: ``'train'`` or ``'val'``; the two are disjoint, so val measures generalisation.
        """
        self._glyphs = sources.glyphs
        self._by_digit: List[np.ndarray] = []
        for digit in range(10):
            index = rng.permutation(np.flatnonzero(sources.labels == digit))
            n_val = int(round(len(index) * VAL_FRACTION))
            self._by_digit.append(index[n_val:] if split == 'train' else index[:n_val])

    def draw(self, digit: int, rng: np.random.Generator) -> np.ndarray:
        """Return a random glyph of ``digit``.

        Args:
            digit: The digit, 0-9.
            rng: The generator to draw with.

        Returns:
            An (8, 8) float32 glyph.
        """
        return self._glyphs[rng.choice(self._by_digit[digit])]


def split_pools(sources: Sources, rng: np.random.Generator) -> Dict[str, DigitPool]:
    """Make the disjoint train and val digit pools from one generator state.

    Args:
        sources: The loaded sources.
        rng: The task's generator.

    Returns:
        ``{'train': pool, 'val': pool}``.
    """
    state = rng.bit_generator.state  # both pools must see the same permutations to be disjoint
    pools = {}
    for split in ('train', 'val'):
        rng.bit_generator.state = state
        pools[split] = DigitPool(sources, rng, split)
    return pools


# --------------------------------------------------------------------------------------- rendering
def render_digit(glyph: np.ndarray, side: int, angle: float) -> np.ndarray:
    """Upscale a glyph into a soft stroke mask.

    Args:
        glyph: An (8, 8) glyph in [0, 1].
        side: Output side in pixels.
        angle: Rotation in degrees (jitter).

    Returns:
        A (side, side) float32 alpha in [0, 1] whose 0.5 level is the stroke outline.
    """
    # A 2-px border keeps strokes that touch the 8x8 edge closed and leaves room for the rotation.
    padded = np.pad(glyph, 2).astype(np.float32)
    rotation = cv2.getRotationMatrix2D((5.5, 5.5), angle, 1.0)
    padded = cv2.warpAffine(padded, rotation, (12, 12), flags=cv2.INTER_LINEAR)
    soft = cv2.resize(padded, (side, side), interpolation=cv2.INTER_CUBIC)
    # Steepen the bicubic ramp: visible ink and the mask at 0.5 then agree to within a pixel.
    return np.clip((soft - 0.35) / 0.3, 0.0, 1.0)


def photo_crop(photos: Sequence[np.ndarray], height: int, width: int,
               rng: np.random.Generator) -> np.ndarray:
    """Cut a jittered background of the given size from a random photo.

    Args:
        photos: RGB uint8 photos.
        height: Output height.
        width: Output width.
        rng: The generator.

    Returns:
        An (height, width, 3) uint8 image.
    """
    photo = photos[rng.integers(len(photos))]
    ph, pw = photo.shape[:2]
    scale = rng.uniform(0.35, 1.0) * min(ph / height, pw / width)
    ch, cw = max(8, int(height * scale)), max(8, int(width * scale))
    y, x = rng.integers(ph - ch + 1), rng.integers(pw - cw + 1)
    crop = cv2.resize(photo[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    # Per-channel gain and an offset: colour/brightness jitter, which also tints the gray photos.
    gain = rng.uniform(0.8, 1.2, size=3) * rng.uniform(0.85, 1.15)
    out = crop.astype(np.float32) * gain + rng.uniform(-15, 15)
    return np.clip(out, 0, 255).astype(np.uint8)


def ink_colour(patches: Sequence[np.ndarray], rng: np.random.Generator, min_contrast: float = 90.0,
               tries: int = 20) -> np.ndarray:
    """Pick a random colour whose brightness clearly differs from each background patch.

    Hue and saturation are random (colour is no cue to the class); brightness contrast keeps the
    digit visible, and hence the data learnable. Value alone does not decide brightness (saturated
    blue at full value is darker than mid-gray), so candidates are checked on luma.

    Args:
        patches: RGB pixels of the backgrounds to stand out from, each of shape (..., 3): the pixels
            under the digit, and for scenes also those around it (a digit pasted across an edge in the
            photo must stand out from both sides).
        rng: The generator.
        min_contrast: Least luma difference to each patch's mean, in gray levels.
        tries: Candidates to draw before falling back to black or white.

    Returns:
        A float32 RGB colour in [0, 255].
    """
    luma_weights = np.array([0.299, 0.587, 0.114], np.float32)
    backgrounds = [float(p.reshape(-1, 3).astype(np.float32).mean(0) @ luma_weights) for p in patches]
    for _ in range(tries):
        hsv = np.array([[[rng.integers(180), rng.integers(80, 256), rng.integers(256)]]], np.uint8)
        colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
        if all(abs(float(colour @ luma_weights) - b) >= min_contrast for b in backgrounds):
            return colour
    return np.full(3, 0.0 if np.mean(backgrounds) > 127 else 255.0, np.float32)


def paste(image: np.ndarray, alpha: np.ndarray, x: int, y: int, rng: np.random.Generator,
          contrast_around: bool = False) -> None:
    """Composite a digit into ``image`` in place.

    Args:
        image: RGB uint8 image.
        alpha: The digit's soft mask.
        x: Left column of the mask in the image.
        y: Top row of the mask in the image.
        rng: The generator (colour).
        contrast_around: Whether the ink must also stand out from the rest of the digit's square
            (for scenes, whose annotations outline the ink against its surroundings).
    """
    h, w = alpha.shape
    region = image[y:y + h, x:x + w].astype(np.float32)
    ink = alpha > 0.5
    patches = [region[ink] if ink.any() else region]
    if contrast_around and (~ink).any():
        patches.append(region[~ink])
    colour = ink_colour(patches, rng)
    blended = region * (1 - alpha[..., None]) + colour * alpha[..., None]
    image[y:y + h, x:x + w] = np.clip(blended, 0, 255).astype(np.uint8)


def add_noise(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """Add mild sensor-like Gaussian noise.

    Args:
        image: RGB uint8 image.
        rng: The generator.
        sigma: Noise standard deviation in gray levels.

    Returns:
        The noisy uint8 image.
    """
    noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def odd_side(low: int, high: int, rng: np.random.Generator) -> int:
    """Draw an image side in [low, high] that is not a multiple of 32.

    Args:
        low: Smallest side.
        high: Largest side.
        rng: The generator.

    Returns:
        The side; padding/resizing code must cope with it, as with real photos.
    """
    side = int(rng.integers(low, high + 1))
    if side % 32 == 0:
        side += 1 if side < high else -1
    return side


@dataclass
class PastedDigit:
    """One digit pasted into a scene.

    Attributes:
        digit: The digit, 0-9.
        x: Left column of ``mask`` in the image.
        y: Top row of ``mask`` in the image.
        mask: Boolean stroke mask (the alpha's 0.5 level).
    """

    digit: int
    x: int
    y: int
    mask: np.ndarray


def free_spot(height: int, width: int, side: int, taken: List[Tuple[int, int, int]],
              rng: np.random.Generator, tries: int = 50) -> Optional[Tuple[int, int]]:
    """Find a position for a side x side square that overlaps no placed square.

    Digits never overlap, so no mask is occluded and every annotation is exact.

    Args:
        height: Image height.
        width: Image width.
        side: Square side.
        taken: Placed squares as (x, y, side).
        rng: The generator.
        tries: Random positions to try.

    Returns:
        (x, y) or None when no free position was found.
    """
    for _ in range(tries):
        x, y = int(rng.integers(width - side + 1)), int(rng.integers(height - side + 1))
        if all(x + side <= tx or tx + ts <= x or y + side <= ty or ty + ts <= y
               for tx, ty, ts in taken):
            return x, y
    return None


def make_scene(sources: Sources, pool: DigitPool, height: int, width: int,
               side_range: Tuple[int, int], rng: np.random.Generator,
               accept: Callable[[np.ndarray], bool] = lambda mask: bool(mask.any()),
               ) -> Tuple[np.ndarray, List[PastedDigit]]:
    """Paste ``DIGITS_PER_SCENE`` random digits at random scales and positions onto a photo crop.

    Args:
        sources: The loaded sources.
        pool: Digit pool of the split.
        height: Image height.
        width: Image width.
        side_range: Range of the digit square's side.
        rng: The generator.
        accept: Tells whether a rendered mask is usable (e.g. gives valid polygons); rejected
            renders are redrawn so that every pasted digit is annotated.

    Returns:
        The RGB image and the pasted digits.
    """
    image = photo_crop(sources.photos, height, width, rng)
    taken: List[Tuple[int, int, int]] = []
    pasted: List[PastedDigit] = []
    for _ in range(int(rng.integers(DIGITS_PER_SCENE[0], DIGITS_PER_SCENE[1] + 1))):
        digit = int(rng.integers(10))
        side = int(rng.integers(side_range[0], min(side_range[1], height, width) + 1))
        spot = free_spot(height, width, side, taken, rng)
        if spot is None:
            continue
        for _attempt in range(10):
            alpha = render_digit(pool.draw(digit, rng), side, rng.uniform(-15, 15))
            if accept(alpha > 0.5):
                break
        else:
            continue
        paste(image, alpha, spot[0], spot[1], rng, contrast_around=True)
        taken.append((spot[0], spot[1], side))
        pasted.append(PastedDigit(digit, spot[0], spot[1], alpha > 0.5))
    if not pasted:  # every render rejected (never seen in practice): draw the scene again
        return make_scene(sources, pool, height, width, side_range, rng, accept)
    return add_noise(image, rng), pasted


def digit_tile(photos: Sequence[np.ndarray], glyph: np.ndarray, side: int,
               rng: np.random.Generator) -> np.ndarray:
    """Make a classification image: one digit filling most of a square photo crop.

    Args:
        photos: RGB uint8 background photos.
        glyph: The (8, 8) glyph.
        side: Image side.
        rng: The generator.

    Returns:
        An (side, side, 3) uint8 image.
    """
    image = photo_crop(photos, side, side, rng)
    digit_side = int(round(side * rng.uniform(0.75, 1.0)))
    alpha = render_digit(glyph, digit_side, rng.uniform(-15, 15))
    x, y = rng.integers(side - digit_side + 1), rng.integers(side - digit_side + 1)
    paste(image, alpha, int(x), int(y), rng)
    return add_noise(image, rng)


def save_jpeg(image: np.ndarray, path: str) -> None:
    """Save an RGB uint8 image as JPEG.

    Args:
        image: The image.
        path: Destination path.
    """
    Image.fromarray(image).save(path, format='JPEG', quality=JPEG_QUALITY)


def write_json(obj: dict, path: str) -> None:
    """Write JSON compactly and deterministically (as the COCO files are written).

    Args:
        obj: The JSON object.
        path: Destination path.
    """
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, separators=(',', ':'))


# ---------------------------------------------------------------------------------------- imagenet
def write_imagenet(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write the ImageNet-1K folder layout.

    Args:
        root: The (empty, existing) task folder.
        sources: The loaded sources.
        rng: The task's generator.

    Returns:
        Image counts per split.
    """
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


# -------------------------------------------------------------------------------------------- coco
def mask_to_polygons(mask: np.ndarray) -> List[np.ndarray]:
    """Trace the outer outlines of a stroke mask.

    COCO polygons cannot express holes (pycocotools unions the polygons of an object), so only
    outer contours are kept, as in the real COCO annotations.

    Args:
        mask: Boolean mask.

    Returns:
        (K, 2) int arrays of x, y vertices; degenerate outlines (< 3 points or zero area) dropped.
    """
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1, 2) for c in contours if len(c) >= 3 and cv2.contourArea(c) > 0]


def coco_annotation(pasted: PastedDigit, ann_id: int, image_id: int) -> dict:
    """Build the COCO instance annotation of one pasted digit.

    Args:
        pasted: The pasted digit (its mask must give at least one polygon).
        ann_id: Annotation id.
        image_id: Image id.

    Returns:
        The annotation dict with bbox, area and polygon segmentation in image coordinates.
    """
    polygons = mask_to_polygons(pasted.mask)
    points = np.concatenate(polygons)
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    return {
        'id': ann_id,
        'image_id': image_id,
        'category_id': pasted.digit + 1,
        # Vertices are pixel indices, so the box spans x0 .. x1 inclusive: width x1 - x0 + 1.
        'bbox': [float(pasted.x + x0), float(pasted.y + y0), float(x1 - x0 + 1), float(y1 - y0 + 1)],
        # Polygon area, as COCO's 'area' is (pycocotools measures the rasterised polygons, which agree
        # to within the outline's half pixels).
        'area': round(float(sum(cv2.contourArea(poly) for poly in polygons)), 2),
        'iscrowd': 0,
        'segmentation': [[float(v) for v in (poly + (pasted.x, pasted.y)).reshape(-1)]
                         for poly in polygons],
    }


def write_coco(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write COCO instance annotations and images.

    Args:
        root: The (empty, existing) task folder.
        sources: The loaded sources.
        rng: The task's generator.

    Returns:
        Image and annotation counts per split.
    """
    pools = split_pools(sources, rng)
    os.makedirs(osp.join(root, 'annotations'))
    categories = [{'id': d + 1, 'name': name, 'supercategory': 'digit'}
                  for d, name in enumerate(DIGIT_NAMES)]
    counts = {}
    image_id = ann_id = 0  # ids are unique across splits, as in COCO
    for split, n_images in COCO_IMAGES.items():
        os.makedirs(osp.join(root, split))
        images, annotations = [], []
        for _ in range(n_images):
            image_id += 1
            height, width = odd_side(*COCO_SIDE, rng), odd_side(*COCO_SIDE, rng)
            image, pasted = make_scene(sources, pools[SPLIT_POOL[split]], height, width,
                                       COCO_DIGIT_SIDE, rng,
                                       accept=lambda mask: bool(mask_to_polygons(mask)))
            file_name = f'{image_id:012d}.jpg'
            save_jpeg(image, osp.join(root, split, file_name))
            images.append({'id': image_id, 'file_name': file_name, 'height': height, 'width': width})
            for digit in pasted:
                ann_id += 1
                annotations.append(coco_annotation(digit, ann_id, image_id))
        write_json({'info': {'description': 'vitzoo embedded digits (COCO layout)', 'version': '1.0'},
                    'licenses': [], 'images': images, 'annotations': annotations,
                    'categories': categories},
                   osp.join(root, 'annotations', f'instances_{split}.json'))
        counts[f'{split} images'] = len(images)
        counts[f'{split} objects'] = len(annotations)
    return counts


# ------------------------------------------------------------------------------------------ ade20k
def write_ade20k(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write the ADE20K image / annotation folders.

    Args:
        root: The (empty, existing) task folder.
        sources: The loaded sources.
        rng: The task's generator.

    Returns:
        Image counts per split.
    """
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
                                       ADE_DIGIT_SIDE, rng)
            label = np.full((height, width), ADE_BACKGROUND, np.uint8)
            for digit in pasted:
                window = label[digit.y:digit.y + digit.mask.shape[0],
                               digit.x:digit.x + digit.mask.shape[1]]
                window[digit.mask] = digit.digit + 2
            save_jpeg(image, osp.join(image_dir, f'{prefix}_{i:08d}.jpg'))
            Image.fromarray(label, mode='L').save(osp.join(label_dir, f'{prefix}_{i:08d}.png'))
        counts[split] = n_images
    return counts


# ------------------------------------------------------------------------------------------- cifar
class _Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Pickler writing ``bytes`` as Python-2 ``str``, like the official CIFAR files.

    The official pickles were written by Python 2: their keys and names are Python-2 ``str``, which
    Python 3 returns as ``str`` with ``encoding='latin1'`` (how mmpretrain and torchvision read them)
    and as ``bytes`` with ``encoding='bytes'``. Python 3's own pickler would write ``bytes``, which stay
    ``bytes`` with either encoding and break ``entry['data']``. The pure-Python pickler is subclassed
    because only it exposes the per-type dispatch table.
    """

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]
    # numpy >= 2 names its internals numpy._core; numpy.core is the name every numpy version loads.
    _MODULE_ALIASES = {'numpy._core.multiarray': 'numpy.core.multiarray'}

    def save_py2_str(self, obj: bytes) -> None:
        """Write ``obj`` with the Python-2 string opcodes.

        Args:
            obj: The bytes to write.
        """
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str

    def save_global(self, obj: object, name: Optional[str] = None) -> None:
        """Write a global reference under the module name that old and new numpy both import.

        Args:
            obj: The class or function.
            name: Its qualified name, when the caller knows it.
        """
        module = getattr(obj, '__module__', None) or pickle.whichmodule(obj, name)
        module = self._MODULE_ALIASES.get(module, module)
        name = name or obj.__qualname__  # type: ignore[attr-defined]
        self.write(pickle.GLOBAL + f'{module}\n{name}\n'.encode('ascii'))
        self.memoize(obj)


def dump_py2_pickle(obj: dict, path: str) -> None:
    """Pickle ``obj`` (protocol 2) the way Python 2 did.

    Args:
        obj: The object, with ``bytes`` for every Python-2 ``str``.
        path: Destination path.
    """
    with open(path, 'wb') as f:
        _Py2Pickler(f, protocol=2).dump(obj)


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


def write_cifar(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write the CIFAR-10 and CIFAR-100 python pickles.

    Args:
        root: The (empty, existing) task folder.
        sources: The loaded sources.
        rng: The task's generator.

    Returns:
        Image counts per file group.
    """
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


WRITERS: Dict[str, Callable[[str, Sources, np.random.Generator], Dict[str, int]]] = {
    'imagenet': write_imagenet, 'coco': write_coco, 'ade20k': write_ade20k, 'cifar': write_cifar}


# ------------------------------------------------------------------------------------ orchestration
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
