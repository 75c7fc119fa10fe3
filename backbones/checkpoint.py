"""Loading checkpoints without running code from them.

Every path that reads weights from outside (``init_cfg=dict(type='Pretrained')``, the converters in
``tools/model_converters``) goes through :func:`load_weights_file`: ``.pth``/``.pt``/``.tar`` files and
``.bin`` (Hugging Face hub's ``pytorch_model.bin``, a plain torch file) are read with
``torch.load(weights_only=True)``, ``.npz`` with ``allow_pickle=False``, ``.safetensors`` with
safetensors. A file that needs code to be unpickled is refused with :class:`UnsafeCheckpointError`, whose
message is one line saying why; nothing from it is executed.
"""
import argparse
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Iterable, Mapping, Optional

import numpy as np
import torch

__all__ = ['UnsafeCheckpointError', 'load_weights_file', 'find_state_dict', 'strip_prefix']

# Wrappers the official repositories put around their state dicts, in the order they are tried.
STATE_DICT_KEYS = ('state_dict', 'model', 'module', 'model_state')


class UnsafeCheckpointError(RuntimeError):
    """The file would need Python code to be unpickled, or is not a weights file at all."""


def load_weights_file(path: str) -> Any:
    """Read a weights file safely.

    Returns:
        The loaded object: for torch files whatever was saved (usually a dict), for ``.npz`` an
        ``OrderedDict`` of numpy arrays, for ``.safetensors`` an ``OrderedDict`` of tensors.

    Raises:
        FileNotFoundError: the path does not exist.
        UnsafeCheckpointError: the file carries pickled code or is not a weights file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    name = os.path.basename(path)
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        try:
            return OrderedDict(load_file(path, device='cpu'))
        except Exception as err:  # safetensors raises its own error types
            raise UnsafeCheckpointError(f'{name} is not a readable safetensors file: {err}') from None
    if path.endswith('.npz'):
        try:
            with np.load(path, allow_pickle=False) as archive:
                return OrderedDict((key, archive[key]) for key in archive.files)
        except ValueError as err:
            raise UnsafeCheckpointError(
                f'refusing {name}: it holds pickled Python objects ({err}); only numeric arrays are '
                'accepted') from None
        except (zipfile.BadZipFile, OSError) as err:
            raise UnsafeCheckpointError(f'{name} is not a readable .npz archive: {err}') from None
    try:
        # timm's checkpoint saver (used by the official GC ViT and DaViT training) stores the run's
        # argparse.Namespace beside the weights: a plain attribute holder, safe to rebuild.
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()
        detail = next((line for line in reason if 'GLOBAL' in line or 'Unsupported' in line), reason[0])
        raise UnsafeCheckpointError(
            f'refusing {name}: it needs Python code to be unpickled, which could run anything '
            f'({detail.strip()}); save the state dict alone, or as .safetensors') from None
    except (RuntimeError, EOFError) as err:
        raise UnsafeCheckpointError(f'{name} is not a readable torch checkpoint: '
                                    f'{str(err).splitlines()[0]}') from None


def find_state_dict(obj: Any, keys: Iterable[str] = STATE_DICT_KEYS) -> Dict[str, torch.Tensor]:
    """Return the state dict inside a checkpoint, looking under the usual wrapper keys."""
    if not isinstance(obj, Mapping):
        raise UnsafeCheckpointError(f'expected a dict of weights, got {type(obj).__name__}')
    for key in keys:
        if key in obj and isinstance(obj[key], Mapping):
            return find_state_dict(obj[key], keys)
    return OrderedDict(obj)


def strip_prefix(state_dict: Mapping[str, Any], prefix: Optional[str]) -> Dict[str, Any]:
    """Keep the entries whose key starts with ``prefix``, with the prefix removed.

    If no key has the prefix, the state dict is returned unchanged (a bare backbone checkpoint).
    """
    if not prefix:
        return OrderedDict(state_dict)
    kept = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    return kept if kept else OrderedDict(state_dict)


_trusted_dirs = set()


def trust_checkpoints_in(directory: str) -> None:
    """Let mmengine's runner fully unpickle checkpoints inside ``directory`` (a run's own work dir; a
    file path trusts that one file).

    mmengine's checkpoints carry its training state (``HistoryBuffer`` logs with numpy values, which
    numpy 2 pickles through ``getattr``) that ``torch.load(weights_only=True)``, torch's default since
    2.6, refuses; allow-listing ``getattr`` would make weights-only loading unsafe for every file. So
    files the run itself wrote (resume, testing its checkpoints) are trusted, and any other file that
    mmengine loads (``load_from``, a downloaded checkpoint) still goes through the weights-only path
    and is refused with a one-line :class:`UnsafeCheckpointError` if it carries Python objects.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    _trusted_dirs.add(os.path.realpath(directory))
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local_checkpoint, force=True)


def _load_local_checkpoint(filename: str, map_location=None) -> Any:
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    path = os.path.realpath(filename)
    if any(os.path.commonpath([path, d]) == d for d in _trusted_dirs):
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        return load_weights_file(filename)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f'{err}. If you made this file yourself (an mmengine training checkpoint), '
                                    'keep it in the run\'s work dir or pass --trust-checkpoint') from None
