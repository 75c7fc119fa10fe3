"""COCO instances layout: ``annotations/instances_{train,val}2017.json`` and ``{train,val}2017/*.jpg``."""
from __future__ import annotations

import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np

from .sources import (DIGIT_NAMES, SPLIT_POOL, PastedDigit, Sources, make_scene, odd_side, save_jpeg,
                      split_pools, write_json)

# The detection and segmentation scenes are small, with 1-3 large digits each, so that a model fine-tuned
# from the classification demo learns them within a few minutes on a CPU (the demo's time limit).
COCO_IMAGES = {'train2017': 256, 'val2017': 32}
COCO_SIDE = (128, 224)
COCO_DIGIT_SIDE = (40, 88)


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


def write(root: str, sources: Sources, rng: np.random.Generator) -> Dict[str, int]:
    """Write COCO instance annotations and images; returns image and object counts per split."""
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
