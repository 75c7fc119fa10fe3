"""Checks of the user's config overrides and data, run by ``tools/train.py`` and ``tools/test.py`` before any
model is built, each failing with one :class:`InputError` line instead of a traceback minutes later.

* :func:`merge_cfg_options` - ``--cfg-options`` keys: a key one typo away from an existing one
  (``train_cfg.max_epoch``, ``model.bakcbone.init_cfg``) is refused with the closest existing key; a key that
  resembles nothing in its parent dict is a new entry and is added, as mmengine does
  (``model.backbone.init_cfg=None``, ``train_dataloader.dataset.indices=2``).
* :func:`check_data` - per data loader: the data root, the annotation file and the image folder exist and
  the folder is not empty; and the classes agree: the COCO annotation file's categories, the dataset's
  ``metainfo.classes`` (the config's, or the dataset type's default) and every head's ``num_classes``.
"""
import difflib
import json
import os
import os.path as osp
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict

__all__ = ['InputError', 'merge_cfg_options', 'check_data']

# How close (difflib ratio) a missing key must be to an existing one to count as its misspelling:
# max_epoch/max_epochs is 0.95, bakcbone/backbone 0.88; new keys (indices, init_cfg) match nothing.
TYPO_CUTOFF = 0.8
README_CLASSES = 'README.md, "Your own data and classes"'


class InputError(ValueError):
    """A mistake in the command line, config or data, reported in one line before any work is done."""


# ------------------------------------------------------------------------------------------ --cfg-options
def _check_key(cfg: Config, full_key: str) -> None:
    node: Any = cfg
    parts = full_key.split('.')
    for depth, part in enumerate(parts):
        where = '.'.join(parts[:depth]) or 'the config'
        if isinstance(node, (list, tuple)):
            if not part.isdigit() or int(part) >= len(node):
                raise InputError(f'--cfg-options {full_key}: {where} is a list of {len(node)}; '
                                 f'use an index 0..{len(node) - 1} in place of "{part}"')
            node = node[int(part)]
        elif isinstance(node, (Mapping, Config)):
            if part not in node:
                close = difflib.get_close_matches(part, [str(k) for k in node], n=1, cutoff=TYPO_CUTOFF)
                if close:
                    suggestion = '.'.join(parts[:depth] + close)
                    raise InputError(f'--cfg-options {full_key}: {where} has no key "{part}"; did you mean '
                                     f'{suggestion}?')
                return  # a new entry: mmengine adds it
            node = node[part]
        elif node is None:
            return  # a None value given sub-keys: merge_cfg_options turns it into a dict
        else:
            raise InputError(f'--cfg-options {full_key}: {where} is {node!r}, not a dict or list, so it has no '
                             f'"{part}"; set {where}=VALUE instead')


def _none_parents_to_dicts(cfg: Config, full_key: str) -> None:
    """``model.backbone.init_cfg.checkpoint=X`` where ``init_cfg`` is None: make it a dict to merge into."""
    parts, node = full_key.split('.'), cfg
    for part in parts[:-1]:
        if isinstance(node, (list, tuple)):
            node = node[int(part)]
        elif isinstance(node, (Mapping, Config)) and part in node:
            if node[part] is None:
                node[part] = ConfigDict()
            node = node[part]
        else:
            return


def merge_cfg_options(cfg: Config, options: Optional[Mapping[str, Any]]) -> None:
    """Check every ``--cfg-options`` key (see the module docstring), then merge them into ``cfg``."""
    if not options:
        return
    for key in options:
        _check_key(cfg, key)
    for key in options:
        _none_parents_to_dicts(cfg, key)
    try:
        cfg.merge_from_dict(dict(options))
    except (KeyError, TypeError) as err:
        raise InputError(f'--cfg-options: {err.args[0] if err.args else err}') from None  # KeyError quotes str()


# ------------------------------------------------------------------------------------------ data
def _datasets(node: Any, path: str) -> Iterator[Tuple[str, Mapping]]:
    """The leaf dataset configs under a (possibly wrapped: Repeat, ClassBalanced, Concat) dataset config."""
    if not isinstance(node, Mapping):
        return
    if isinstance(node.get('dataset'), Mapping):
        yield from _datasets(node['dataset'], f'{path}.dataset')
    elif isinstance(node.get('datasets'), (list, tuple)):
        for i, child in enumerate(node['datasets']):
            yield from _datasets(child, f'{path}.datasets.{i}')
    else:
        yield path, node


def _is_remote(path: str) -> bool:
    return '://' in path


def _join(root: str, path: str) -> str:
    return path if not root or osp.isabs(path) or _is_remote(path) else osp.join(root, path)


def _has_a_file(directory: str) -> bool:
    for _, _, files in os.walk(directory, followlinks=True):
        if files:
            return True
    return False


def _check_paths(path: str, dataset: Mapping) -> None:
    root = dataset.get('data_root') or ''
    if not isinstance(root, str) or _is_remote(root):
        return
    if root and not osp.isdir(root):
        raise InputError(f'{path}.data_root={root} does not exist; point it at your data with '
                         f'--cfg-options {path}.data_root=DIR')
    ann_file = dataset.get('ann_file') or ''
    if isinstance(ann_file, str) and ann_file and not osp.exists(_join(root, ann_file)):
        raise InputError(f'{path}.ann_file: {_join(root, ann_file)} does not exist; set --cfg-options '
                         f'{path}.ann_file=FILE (relative to data_root)')
    prefix = dataset.get('data_prefix')
    if isinstance(prefix, Mapping):
        folders = [(f'data_prefix.{k}', v) for k, v in prefix.items() if k in ('img', 'img_path') and v]
    elif isinstance(prefix, str) and prefix:
        folders = [('data_prefix', prefix)]
    elif isinstance(dataset.get('split'), str) and dataset['split']:  # mmpretrain's ImageNet-style layouts
        folders = [('split', dataset['split'])] if osp.isdir(_join(root, dataset['split'])) else []
    else:
        folders = [('data_root', '')] if root else []
    for key, folder in folders:
        folder = _join(root, folder) if folder else root
        if _is_remote(folder):
            continue
        if not osp.isdir(folder):
            raise InputError(f'{path}.{key}: image folder {folder} does not exist; set --cfg-options '
                             f'{path}.{key}=DIR (relative to data_root)')
        if not _has_a_file(folder):
            raise InputError(f'{path}.{key}: image folder {folder} is empty')


def _coco_categories(ann_file: str) -> Optional[List[str]]:
    """The category names of a COCO annotation file, read without parsing its (large) image and
    annotation lists when the file ends with them, as COCO's own files do."""
    with open(ann_file, 'rb') as f:
        raw = f.read()
    start = raw.rfind(b'"categories"')
    if start < 0:
        return None
    try:
        text = raw[raw.index(b':', start) + 1:].decode('utf-8').lstrip()
        categories, _ = json.JSONDecoder().raw_decode(text)
    except (ValueError, UnicodeDecodeError):
        categories = json.loads(raw).get('categories')
    if not isinstance(categories, list):
        return None
    return [c.get('name') for c in categories if isinstance(c, Mapping)]


def _dataset_class(dataset: Mapping, default_scope: Optional[str]):
    from mmengine.registry import DATASETS
    if not isinstance(dataset.get('type'), str):
        return dataset.get('type') if isinstance(dataset.get('type'), type) else None
    try:
        with DATASETS.switch_scope_and_registry(default_scope) as registry:
            return registry.get(dataset['type'])
    except Exception:  # an unregistered type is reported by the runner itself
        return None


def _head_num_classes(model: Any, path: str = 'model') -> Iterator[Tuple[str, int]]:
    """``(path, num_classes)`` of every head (and mmpretrain's data preprocessor); RPN heads are class
    agnostic and skipped."""
    if isinstance(model, Mapping):
        for key, value in model.items():
            if key == 'num_classes' and isinstance(value, int) and not path.endswith('rpn_head'):
                yield path[len('model.'):] or 'model', value
            elif key not in ('train_cfg', 'test_cfg', 'rpn_head'):
                yield from _head_num_classes(value, f'{path}.{key}')
    elif isinstance(model, (list, tuple)):
        for i, value in enumerate(model):
            yield from _head_num_classes(value, f'{path}.{i}')


def _short(names: Sequence[str], limit: int = 4) -> str:
    shown = ', '.join(str(n) for n in list(names)[:limit])
    return f'({shown}{", ..." if len(names) > limit else ""})'


def _check_classes(cfg: Config, path: str, dataset: Mapping) -> None:
    dataset_class = _dataset_class(dataset, cfg.get('default_scope'))
    metainfo = dataset.get('metainfo') or {}
    classes, origin = metainfo.get('classes'), f'{path}.metainfo.classes'
    if classes is None and dataset.get('classes') is not None:  # mmpretrain's own argument: names or a file
        classes, origin = dataset['classes'], f'{path}.classes'
        if isinstance(classes, str) and osp.isfile(classes):
            with open(classes) as f:
                classes = [line.strip() for line in f if line.strip()]
    if classes is None and dataset_class is not None:
        classes = (getattr(dataset_class, 'METAINFO', None) or {}).get('classes')
        origin = f'{path}.metainfo.classes (the {dataset_class.__name__} default)'
    if isinstance(classes, str) or classes is None:  # a class-list file, or classes found at load time
        return
    heads = list(_head_num_classes(cfg.get('model')))
    wrong_heads = [(p, n) for p, n in heads if n != len(classes)]
    missing, categories, ann_path = [], None, None
    ann_file = dataset.get('ann_file') or ''
    is_coco = dataset_class is not None and 'coco' in dataset_class.__name__.lower()
    if isinstance(ann_file, str) and ann_file.endswith('.json') and is_coco:
        ann_path = _join(dataset.get('data_root') or '', ann_file)
        if osp.isfile(ann_path):
            categories = _coco_categories(ann_path)
            if categories is not None:
                missing = [c for c in classes if c not in categories]
    if not wrong_heads and not missing:
        return
    parts = []
    if categories is not None:
        parts.append(f'{ann_path} has {len(categories)} categories {_short(categories)}')
    parts.append(f'{origin} has {len(classes)} {_short(classes)}')
    heads_text = ', '.join(f'{p}={n}' for p, n in heads) or 'none found'
    parts.append(f'the heads\' num_classes are {heads_text}')
    recipe = ' '.join([f'{path}.metainfo.classes="(\'a\',\'b\')"'] +
                      [f'model.{p}.num_classes=2' for p, _ in heads])
    raise InputError(f'classes disagree: {"; ".join(parts)}. Give the classes and every num_classes the '
                     f'same list, e.g. --cfg-options {recipe} (see {README_CLASSES})')


def check_data(cfg: Config, splits: Sequence[str]) -> None:
    """Check the datasets of the ``{split}_dataloader`` entries ``cfg`` has (see the module docstring)."""
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not isinstance(loader, Mapping):
            continue
        for path, dataset in _datasets(loader.get('dataset'), f'{split}_dataloader.dataset'):
            _check_paths(path, dataset)
            _check_classes(cfg, path, dataset)
