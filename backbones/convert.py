"""What every checkpoint converter in ``tools/model_converters`` shares.

A converter supplies one function ``convert(source, args) -> (state_dict, meta)`` that maps an official
checkpoint (already loaded safely by :func:`backbones.checkpoint.load_weights_file`) to the layout of the
family's mmpretrain classifier (``backbone.*``, ``head.fc.*``). :func:`converter_main` does the rest the
same way for all families: the command line, refusing unsafe files with one line, refusing to overwrite
without ``--force``, and an atomic write, so a failed conversion never leaves a half-written file.
"""
import argparse
import os
import sys
import tempfile
from collections import OrderedDict
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from .checkpoint import UnsafeCheckpointError, load_weights_file

__all__ = [
    'ConversionError', 'KeyTracker', 'check_against_model', 'converter_main', 'save_atomic', 'detect_layout',
    'strip_module_prefix', 'split_downstream', 'downstream_meta', 'select_ema', 'shorten', 'match_zoo_arch'
]

# Top-level modules of mmdet 2.x/3.x detectors and mmseg 0.x/1.x segmentors. Their parameter names did
# not change between those versions for FPN, RPNHead, StandardRoIHead, CascadeRoIHead, RetinaHead,
# UPerHead and FCNHead, so a downstream release's neck and head tensors are carried over unchanged.
DOWNSTREAM_PREFIXES = ('neck.', 'rpn_head.', 'roi_head.', 'bbox_head.', 'mask_head.', 'decode_head.',
                       'auxiliary_head.')


class ConversionError(ValueError):
    """The source is not a checkpoint of the expected family (message names what is wrong)."""


class KeyTracker:
    """Hands out source tensors by key and remembers which ones were used, so that nothing in an
    official checkpoint is silently dropped."""

    def __init__(self, source: Dict[str, Any]):
        self.source = source
        self.used = set()

    def __contains__(self, key: str) -> bool:
        return key in self.source

    def keys(self) -> Iterable[str]:
        return self.source.keys()

    def take(self, key: str) -> Any:
        if key not in self.source:
            raise ConversionError(f'the checkpoint has no {key!r}; is it from the right family/variant?')
        self.used.add(key)
        return self.source[key]

    def skip(self, key: str) -> None:
        """Mark a key as deliberately not converted (e.g. a derived buffer)."""
        self.used.add(key)

    def check_all_used(self) -> None:
        left = [k for k in self.source if k not in self.used]
        if left:
            raise ConversionError(f'{len(left)} keys of the checkpoint were not understood: {shorten(left)}')


def shorten(keys: Sequence[str], shown: int = 6) -> str:
    """The first ``shown`` keys and how many more, for a one-line error."""
    return ', '.join(keys[:shown]) + (f' and {len(keys) - shown} more' if len(keys) > shown else '')


def select_ema(source: Any, ema: bool) -> Any:
    """The checkpoint's ``state_dict_ema`` (timm's EMA weights) when ``ema``, else ``source`` itself."""
    if not ema:
        return source
    if not isinstance(source, dict) or 'state_dict_ema' not in source:
        raise ConversionError('--ema given but the checkpoint has no state_dict_ema')
    return source['state_dict_ema']


def match_zoo_arch(zoo_shapes: Dict[str, Tuple[Sequence[int], Sequence[int]]], dims: Sequence[int],
                   depths: Sequence[int], arch: Optional[str]) -> Optional[str]:
    """The zoo name whose ``(embed_dims, depths)`` the checkpoint has (``None``: a custom arch); with
    ``--arch``, refuse a checkpoint of other shapes in one line."""
    if arch is not None:
        expected = zoo_shapes[arch]
        if (list(expected[0]), list(expected[1])) != (list(dims), list(depths)):
            raise ConversionError(f'--arch {arch} expects embed_dims {expected[0]} and depths '
                                  f'{expected[1]}, the checkpoint has {tuple(dims)} and {tuple(depths)}')
        return arch
    return next((n for n, (d, dep) in zoo_shapes.items() if list(d) == list(dims) and list(dep) == list(depths)),
                None)


def check_against_model(state_dict: Dict[str, Any], model: 'torch.nn.Module', prefix: str = 'backbone.') -> None:
    """Raise :class:`ConversionError` unless the ``prefix`` entries of ``state_dict`` are exactly the model's
    state (names and shapes): a converted checkpoint must load with ``strict=True``."""
    own = model.state_dict()
    ours = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    unknown = sorted(set(ours) - set(own))
    missing = sorted(set(own) - set(ours))
    wrong = sorted(k for k in set(ours) & set(own) if tuple(ours[k].shape) != tuple(own[k].shape))
    problems = []
    for label, keys in (('unknown', unknown), ('missing', missing), ('wrongly shaped', wrong)):
        if keys:
            problems.append(f'{len(keys)} {label} ({", ".join(keys[:4])}{", ..." if len(keys) > 4 else ""})')
    if problems:
        raise ConversionError(f'the converted weights do not fit {type(model).__name__}: ' + '; '.join(problems))


def save_atomic(obj: Any, dst: str) -> None:
    """``torch.save`` into a temporary file beside ``dst``, then rename it into place."""
    folder = os.path.dirname(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(dst) + '.', dir=folder)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, dst)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def converter_main(convert: Callable[[Any, argparse.Namespace], Tuple[Dict[str, torch.Tensor], Dict]],
                   description: str,
                   add_arguments: Optional[Callable[[argparse.ArgumentParser], None]] = None,
                   argv: Optional[Sequence[str]] = None) -> int:
    """Run a converter's command line; returns the exit code (0 ok, 2 refused or failed)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('src', help='official checkpoint')
    parser.add_argument('dst', help='where to write the converted checkpoint (.pth)')
    parser.add_argument('--force', action='store_true', help='overwrite dst if it exists')
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    prog = os.path.basename(sys.argv[0]) if argv is None else 'converter'
    if os.path.exists(args.dst) and not args.force:
        print(f'{prog}: error: {args.dst} exists; pass --force to overwrite it', file=sys.stderr)
        return 2
    try:
        source = load_weights_file(args.src)
        state_dict, meta = convert(source, args)
    except (FileNotFoundError, UnsafeCheckpointError, ConversionError) as err:
        print(f'{prog}: error: {err}', file=sys.stderr)
        return 2
    state_dict = OrderedDict((k, v.contiguous() if isinstance(v, torch.Tensor) else torch.as_tensor(v))
                             for k, v in state_dict.items())
    meta = dict(meta, source=os.path.basename(args.src))
    save_atomic({'state_dict': state_dict, 'meta': meta}, args.dst)
    summary = ', '.join(f'{k}={v}' for k, v in meta.items() if k not in ('source', 'dataset_meta'))
    if 'classes' in meta.get('dataset_meta', {}):
        summary += f', {len(meta["dataset_meta"]["classes"])} class names'
    print(f'{prog}: wrote {len(state_dict)} tensors to {args.dst} ({summary})')
    return 0


def detect_layout(state_dict: Dict[str, Any], layouts: Dict[str, str], family: str) -> str:
    """Name of the first layout whose probe key is in ``state_dict`` (``layouts``: name -> probe key),
    or a :class:`ConversionError` whose one line names every layout the converter knows."""
    for name, probe in layouts.items():
        if probe in state_dict:
            return name
    known = ', '.join(f'{name} ({probe})' for name, probe in layouts.items())
    shown = ', '.join(list(state_dict)[:3]) or 'no tensors'
    raise ConversionError(f'not a {family} checkpoint in a layout this converter knows: {known}; '
                          f'it starts with {shown}')


def strip_module_prefix(state_dict: Dict[str, Any]) -> Dict[str, Any]:
    """Drop the ``module.`` prefix that DistributedDataParallel puts on every key."""
    return OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v) for k, v in state_dict.items())


def split_downstream(state_dict: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split a detector/segmentor state dict into its backbone (``backbone.`` removed) and the rest
    (neck and heads, names kept). Keys of neither kind are left in the backbone part, to be reported."""
    backbone, rest = OrderedDict(), OrderedDict()
    for key, value in state_dict.items():
        if key.startswith(DOWNSTREAM_PREFIXES):
            rest[key] = value
        else:
            backbone[key[len('backbone.'):] if key.startswith('backbone.') else key] = value
    return backbone, rest


def downstream_meta(source: Any) -> Dict[str, Any]:
    """What an mmdet 2.x / mmseg 0.x checkpoint's ``meta`` says that mmengine's runners still read:
    the class names (``CLASSES``) and palette (``PALETTE``), as ``dataset_meta``. Training state
    (``optimizer``, epochs, config text) is not carried over."""
    meta = source.get('meta') if isinstance(source, dict) else None
    if not isinstance(meta, dict):
        return {}
    dataset_meta = {}
    if meta.get('CLASSES') is not None:
        dataset_meta['classes'] = tuple(meta['CLASSES'])
    if meta.get('PALETTE') is not None:
        dataset_meta['palette'] = [tuple(c) for c in meta['PALETTE']]
    return {'dataset_meta': dataset_meta} if dataset_meta else {}


def rename_prefixes(key: str, rules: List[Tuple[str, str]]) -> str:
    """Apply the first ``(old_prefix, new_prefix)`` rule whose old prefix starts ``key``."""
    for old, new in rules:
        if key.startswith(old):
            return new + key[len(old):]
    return key
