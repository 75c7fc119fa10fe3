"""Loading checkpoints without running code from them.

Every path that reads weights from outside (``init_cfg=dict(type='Pretrained')``, the converters in
``tools/model_converters``) goes through :func:`load_weights_file`: ``.pth``/``.pt``/``.tar`` files are
read with ``torch.load(weights_only=True)``, ``.npz`` with ``allow_pickle=False``, ``.safetensors`` with
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


def load_mmengine_checkpoints_safely() -> None:
    """Let ``torch.load(weights_only=True)`` read the checkpoints mmengine's runner writes.

    Since torch 2.6, ``torch.load`` refuses anything but tensors and plain containers by default,
    and mmengine's checkpoints carry its ``HistoryBuffer`` logs and numpy arrays in the message hub.
    Allow-listing exactly those types keeps ``--resume`` and ``tools/test.py`` working while every
    other pickled object is still refused.
    """
    if not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    safe = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct, np.core.multiarray.scalar]
    # numpy >= 1.25 pickles dtypes as instances of per-type classes (np.dtypes.Float64DType, ...).
    if hasattr(np, 'dtypes'):
        safe += [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]
    torch.serialization.add_safe_globals(safe)
