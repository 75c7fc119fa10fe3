"""The real images every embedded data set is made from, and how digits are drawn onto photos.

The handwritten digits of scikit-learn's ``load_digits()`` (8x8, upscaled bicubically) are composited
in a contrasting colour onto crops of the photos that ship with scikit-image (``skimage.data``), so
nothing is downloaded. Every draw comes from the generator passed in, so output is deterministic.
"""
from __future__ import annotations

import json
import os.path as osp
import zlib
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

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
DIGITS_PER_SCENE = (1, 3)


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
               digits_per_scene: Tuple[int, int] = DIGITS_PER_SCENE,
               ) -> Tuple[np.ndarray, List[PastedDigit]]:
    """Paste ``digits_per_scene`` random digits at random scales and positions onto a photo crop.

    Args:
        sources: The loaded sources.
        pool: Digit pool of the split.
        height: Image height.
        width: Image width.
        side_range: Range of the digit square's side.
        rng: The generator.
        accept: Tells whether a rendered mask is usable (e.g. gives valid polygons); rejected
            renders are redrawn so that every pasted digit is annotated.
        digits_per_scene: Least and most digits to paste (fewer when no free spot is left).

    Returns:
        The RGB image and the pasted digits.
    """
    image = photo_crop(sources.photos, height, width, rng)
    taken: List[Tuple[int, int, int]] = []
    pasted: List[PastedDigit] = []
    for _ in range(int(rng.integers(digits_per_scene[0], digits_per_scene[1] + 1))):
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
        return make_scene(sources, pool, height, width, side_range, rng, accept, digits_per_scene)
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
