"""Tests of ``tools/misc/make_embedded_data.py``: layouts, annotation validity, loading by the
OpenMMLab datasets, determinism, reuse / --force and argument checks.

The tool runs in-process (its ``main``) so the whole file takes a few seconds besides the mm* imports.
"""
import contextlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from contract import load_tool
from PIL import Image

DIGITS = ('zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine')
LUMA = np.array([0.299, 0.587, 0.114])


tool = load_tool(os.path.join('tools', 'misc', 'make_embedded_data.py'), 'make_embedded_data')


def run_tool(*args: str) -> None:
    assert tool.main([str(a) for a in args]) == 0


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory) -> Path:
    """All four sets, written once with seed 0."""
    out = tmp_path_factory.mktemp('embedded')
    run_tool('--out', out, '--seed', 0)
    return out


def quiet_coco(path: Path):
    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints timing lines
        return COCO(str(path))


def file_bytes(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob('*')) if p.is_file()}


# ------------------------------------------------------------------------------------------ imagenet
def test_imagenet_layout(data_dir):
    root = data_dir / 'imagenet'
    assert (root / 'meta' / 'classes.txt').read_text().split() == list(DIGITS)
    for split, per_class in (('train', 300), ('val', 20)):
        folders = sorted(p.name for p in (root / split).iterdir())
        assert folders == [f'n{d:08d}' for d in range(10)]
        for folder in folders:
            files = sorted((root / split / folder).iterdir())
            assert len(files) == per_class and all(f.suffix == '.JPEG' for f in files)
            image = Image.open(files[0])
            assert image.format == 'JPEG' and image.mode == 'RGB' and image.size == (64, 64)


def test_imagenet_loads_with_mmpretrain(data_dir):
    from mmpretrain.datasets import CustomDataset, ImageNet
    root = str(data_dir / 'imagenet')
    classes = str(data_dir / 'imagenet' / 'meta' / 'classes.txt')
    for split, n in (('train', 3000), ('val', 200)):
        dataset = ImageNet(data_root=root, split=split, classes=classes)
        assert len(dataset) == n and dataset.CLASSES == DIGITS
        labels = dataset.get_gt_labels()
        assert np.bincount(labels, minlength=10).tolist() == [n // 10] * 10
        # Folder n0000000d holds digit d.
        assert all(f'n{label:08d}' in dataset.get_data_info(i)['img_path'] for i, label in enumerate(labels))
    folders = CustomDataset(data_root=root, data_prefix='train')
    assert len(folders) == 3000 and folders.CLASSES == tuple(f'n{d:08d}' for d in range(10))


# ---------------------------------------------------------------------------------------------- coco
@pytest.mark.filterwarnings('ignore:__array__ implementation:DeprecationWarning')  # pycocotools vs numpy 2
@pytest.mark.parametrize('split,n_images', [('train2017', 256), ('val2017', 32)])
def test_coco_annotations_are_valid_and_follow_the_digits(data_dir, split, n_images):
    root = data_dir / 'coco'
    coco = quiet_coco(root / 'annotations' / f'instances_{split}.json')
    assert len(coco.imgs) == n_images
    assert [(c['id'], c['name'], c['supercategory']) for c in coco.loadCats(coco.getCatIds())] == \
        [(d + 1, name, 'digit') for d, name in enumerate(DIGITS)]
    sides, contrasts = [], []
    for image_id, info in coco.imgs.items():
        image = Image.open(root / split / info['file_name'])
        assert image.size == (info['width'], info['height'])
        assert 128 <= info['width'] <= 224 and 128 <= info['height'] <= 224
        sides += [info['width'], info['height']]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image_id]))
        assert 1 <= len(anns) <= 3
        luma = np.asarray(image.convert('RGB'), np.float64) @ LUMA
        for ann in anns:
            x, y, w, h = ann['bbox']
            assert ann['iscrowd'] == 0 and 1 <= ann['category_id'] <= 10 and ann['area'] > 0
            assert 0 <= x and 0 <= y and w > 0 and h > 0
            assert x + w <= info['width'] and y + h <= info['height']
            assert ann['segmentation'] and all(len(p) >= 6 and len(p) % 2 == 0 for p in ann['segmentation'])
            points = np.concatenate([np.reshape(p, (-1, 2)) for p in ann['segmentation']])
            # The box is tight: vertices are pixel indices and the box spans those pixels.
            assert points.min(0).tolist() == [x, y] and points.max(0).tolist() == [x + w - 1, y + h - 1]
            mask = coco.annToMask(ann).astype(bool)
            box = np.zeros_like(mask)
            box[int(y):int(y + h), int(x):int(x + w)] = True
            assert mask.sum() > 0 and not (mask & ~box).any()
            assert 0.9 < mask.sum() / ann['area'] < 1.1  # 'area' is the polygons' area, as in COCO
            # The polygon is the digit's shape, not its box, and it outlines visible ink: the pixels
            # inside differ clearly in brightness from the rest of the box (nearly always: the outline
            # also encloses the holes of a 0, 6, 8 or 9, whose background may tip the mean).
            assert 0.1 < mask.sum() / box.sum() < 0.9
            contrasts.append(abs(luma[mask].mean() - luma[box & ~mask].mean()))
    assert any(side % 32 for side in sides) and len(set(sides)) > 4
    assert np.mean(np.array(contrasts) > 20) >= 0.98 and np.median(contrasts) > 60


def test_coco_loads_with_mmdet(data_dir):
    from mmdet.datasets import CocoDataset
    for split, n_images in (('train2017', 256), ('val2017', 32)):
        dataset = CocoDataset(data_root=str(data_dir / 'coco') + '/',
                              ann_file=f'annotations/instances_{split}.json',
                              data_prefix=dict(img=f'{split}/'), metainfo=dict(classes=DIGITS), pipeline=[])
        assert len(dataset) == n_images
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            assert os.path.isfile(info['img_path'])
            assert info['instances'] and all(0 <= inst['bbox_label'] <= 9 and inst['ignore_flag'] == 0
                                             and inst['mask'] for inst in info['instances'])


# -------------------------------------------------------------------------------------------- ade20k
def test_ade20k_loads_with_mmseg_and_labels_are_digits(data_dir):
    from mmcv.transforms import LoadImageFromFile
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations  # mmseg's: by name, the registry may pick mmcv's
    from embedded_data.ade20k import ADE_IMAGES  # importable once the tool has loaded
    for split, n_images in ADE_IMAGES.items():
        dataset = ADE20KDataset(
            data_root=str(data_dir / 'ade20k'),
            data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
            pipeline=[LoadImageFromFile(), LoadAnnotations()])
        assert len(dataset) == n_images
        seen = set()
        for i in range(len(dataset)):
            info = dataset.get_data_info(i)
            assert Path(info['img_path']).stem == Path(info['seg_map_path']).stem
            png = Image.open(info['seg_map_path'])
            assert png.mode == 'L'
            raw = np.asarray(png)
            assert set(np.unique(raw).tolist()) <= set(range(1, 12)) and (raw == 1).any() and (raw > 1).any()
            sample = dataset[i]
            assert sample['img'].shape[:2] == sample['gt_seg_map'].shape == raw.shape
            # reduce_zero_label: background 1 -> class 0, digit d (d + 2) -> class d + 1; no ignore pixels.
            assert np.array_equal(sample['gt_seg_map'], raw.astype(np.int64) - 1)
            seen |= set(np.unique(raw).tolist())
        assert len(seen) > 4  # several digit classes per split


def test_ade20k_scenes_hold_many_digits_at_the_classifiers_scale(data_dir):
    """Dense scenes: the segmentor's loss sees several digits' classes a crop (4-10 digits of 24-40 px)."""
    import cv2
    from embedded_data.ade20k import ADE_DIGIT_SIDE, ADE_DIGITS_PER_SCENE
    labels = sorted((data_dir / 'ade20k' / 'annotations' / 'training').glob('*.png'))
    counts, sides = [], []
    for path in labels:
        digits = np.asarray(Image.open(path)) > 1
        n, _, stats, _ = cv2.connectedComponentsWithStats(digits.astype(np.uint8), connectivity=8)
        counts.append(n - 1)  # squares never overlap, so each digit is one component (a split stroke adds one)
        sides += stats[1:, cv2.CC_STAT_HEIGHT].tolist()
    assert ADE_DIGITS_PER_SCENE[0] <= np.median(counts) <= ADE_DIGITS_PER_SCENE[1] + 2
    assert ADE_DIGIT_SIDE[0] * 0.5 <= np.median(sides) <= ADE_DIGIT_SIDE[1]


def test_ade20k_labels_a_digit_as_its_filled_grown_outline():
    from embedded_data.ade20k import digit_region
    from embedded_data.sources import render_digit
    ring = np.zeros((8, 8), np.float32)  # a zero: ink around a hole
    ring[1:7, 1:7], ring[3:5, 3:5] = 1.0, 0.0
    strokes = render_digit(ring, 48, 0.0) > 0.5
    region = digit_region(strokes)
    assert region.shape == strokes.shape and region.dtype == bool
    assert region[strokes].all()  # every stroke pixel is labelled ...
    assert region[24, 24] and not strokes[24, 24]  # ... and so is the hole inside the zero
    assert region[:, :2].sum() == 0 and region.sum() < strokes.size  # it stays inside the digit's square
    grown = region & ~strokes
    assert grown[10:38, 2:10].any()  # grown outward by about a glyph cell (4 px here) past the ink


# --------------------------------------------------------------------------------------------- cifar
def test_cifar_pickles_have_the_official_format(data_dir):
    c10 = data_dir / 'cifar' / 'cifar-10-batches-py'
    for name, batch_label in [(f'data_batch_{b}', f'training batch {b} of 5') for b in range(1, 6)] + \
            [('test_batch', 'testing batch 1 of 1')]:
        raw = (c10 / name).read_bytes()
        as_bytes = pickle.loads(raw, encoding='bytes')  # how the CIFAR web page reads them
        entry = pickle.loads(raw, encoding='latin1')  # how mmpretrain and torchvision read them
        assert set(as_bytes) == {b'batch_label', b'labels', b'data', b'filenames'}
        assert entry['batch_label'] == batch_label
        assert entry['data'].dtype == np.uint8 and entry['data'].shape == (20, 3072)
        assert sorted(entry['labels']) == sorted(list(range(10)) * 2)
        assert len(entry['filenames']) == 20
    meta = pickle.loads((c10 / 'batches.meta').read_bytes(), encoding='latin1')
    assert meta['label_names'] == list(DIGITS) and meta['num_vis'] == 3072

    c100 = data_dir / 'cifar' / 'cifar-100-python'
    for name, n in (('train', 100), ('test', 20)):
        entry = pickle.loads((c100 / name).read_bytes(), encoding='latin1')
        assert set(entry) == {'filenames', 'batch_label', 'fine_labels', 'coarse_labels', 'data'}
        assert entry['data'].shape == (n, 3072) and len(entry['fine_labels']) == n
        assert entry['coarse_labels'] == [f // 5 for f in entry['fine_labels']]
    meta = pickle.loads((c100 / 'meta').read_bytes(), encoding='latin1')
    assert len(meta['fine_label_names']) == 100 and len(meta['coarse_label_names']) == 20


def test_cifar_loads_with_mmpretrain(data_dir):
    from mmpretrain.datasets import CIFAR10, CIFAR100
    root = str(data_dir / 'cifar')
    # The stock classes always check the official md5 sums, so they refuse the embedded files ...
    with pytest.raises(RuntimeError, match='Cannot find CIFAR10'):
        CIFAR10(data_root=root, split='train', download=False)

    # ... and backbones.LocalCIFAR10/100 (same format, no md5 check) read them.
    from backbones.datasets import LocalCIFAR10, LocalCIFAR100
    for base, cls, folder, key, counts in ((CIFAR10, LocalCIFAR10, 'cifar-10-batches-py', 'labels', (100, 20)),
                                           (CIFAR100, LocalCIFAR100, 'cifar-100-python', 'fine_labels', (100, 20))):
        for split, n in zip(('train', 'test'), counts):
            dataset = cls(data_root=root, split=split, download=False)
            assert len(dataset) == n
            first_file = base.train_list[0][0] if split == 'train' else base.test_list[0][0]
            entry = pickle.loads((data_dir / 'cifar' / folder / first_file).read_bytes(), encoding='latin1')
            assert dataset[0]['gt_label'] == entry[key][0]
            assert np.array_equal(dataset[0]['img'], entry['data'][0].reshape(3, 32, 32).transpose(1, 2, 0))
        meta_reader = cls(data_root=root, split='test', download=False, lazy_init=True)
        meta_reader._metainfo.pop('classes')
        meta_reader._load_meta()
        assert len(meta_reader.CLASSES) == (10 if base is CIFAR10 else 100)


# ----------------------------------------------------------------------------- determinism and reuse
def test_same_seed_gives_identical_annotations(data_dir, tmp_path):
    # A run of only some tasks writes the same files as the full run: each task has its own stream.
    run_tool('--out', tmp_path / 'again', '--tasks', 'coco', 'ade20k', '--seed', 0)
    for sub in ('coco/annotations', 'ade20k/annotations'):
        assert file_bytes(tmp_path / 'again' / sub) == file_bytes(data_dir / sub)
    run_tool('--out', tmp_path / 'other', '--tasks', 'coco', '--seed', 1)
    name = 'coco/annotations/instances_train2017.json'
    assert (tmp_path / 'other' / name).read_bytes() != (data_dir / name).read_bytes()
    assert not [p for p in (tmp_path / 'again').iterdir() if p.name.startswith('.')]  # no temp dirs left


def test_reuse_force_and_refusals(tmp_path, capsys):
    out = tmp_path / 'sets'
    run_tool('--out', out, '--tasks', 'cifar')
    stamp = json.loads((out / 'cifar' / '.embedded_data.json').read_text())
    assert stamp['seed'] == 0 and stamp['task'] == 'cifar'
    marker = out / 'cifar' / 'marker'
    marker.write_text('kept unless regenerated')
    capsys.readouterr()

    run_tool('--out', out, '--tasks', 'cifar')
    assert 'reusing' in capsys.readouterr().out and marker.exists()

    with pytest.raises(SystemExit) as error:  # another seed must not silently reuse seed 0's set
        tool.main(['--out', str(out), '--tasks', 'cifar', '--seed', '3'])
    assert error.value.code == 2 and '--force' in capsys.readouterr().err and marker.exists()

    run_tool('--out', out, '--tasks', 'cifar', '--seed', 3, '--force')
    assert 'rewrote' in capsys.readouterr().out and not marker.exists()
    assert json.loads((out / 'cifar' / '.embedded_data.json').read_text())['seed'] == 3

    foreign = out / 'imagenet'  # a folder this tool did not write is never overwritten
    foreign.mkdir()
    (foreign / 'real.JPEG').write_bytes(b'x')
    with pytest.raises(SystemExit):
        tool.main(['--out', str(out), '--tasks', 'imagenet', '--force'])
    assert 'not written by this tool' in capsys.readouterr().err and (foreign / 'real.JPEG').exists()


def test_failed_run_leaves_nothing_half_written(tmp_path, monkeypatch):
    def broken_writer(root, sources, rng):
        (Path(root) / 'partial.txt').write_text('half')
        raise RuntimeError('disk full')

    monkeypatch.setitem(tool.WRITERS, 'cifar', broken_writer)
    with pytest.raises(RuntimeError, match='disk full'):
        tool.main(['--out', str(tmp_path), '--tasks', 'cifar'])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('argv,message', [
    (['--tasks', 'mnist'], "invalid choice: 'mnist'"),
    (['--seed', '-1'], 'got -1'),
    (['--seed', 'abc'], "invalid int value: 'abc'"),
])
def test_bad_arguments_are_named(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as error:
        tool.main(['--out', str(tmp_path)] + argv)
    err = capsys.readouterr().err
    assert error.value.code == 2 and message in err
    if argv[0] == '--tasks':
        assert all(task in err for task in ('imagenet', 'coco', 'ade20k', 'cifar'))
