"""Loading checkpoints without running code from them.

Every path that reads weights from outside (``init_cfg=dict(type='Pretrained')``, the converters in
``tools/model_converters``) goes through :func:`load_weights_file`: ``.pth``/``.pt``/``.tar`` files and
``.bin`` (Hugging Face hub's ``pytorch_model.bin``, a plain torch file) are read with
``torch.load(weights_only=True)``, ``.npz`` with ``allow_pickle=False``, ``.safetensors`` with
safetensors. A file that needs code to be unpickled is refused with :class:`UnsafeCheckpointError`, whose
message is one line saying why; nothing from it is executed.

mmengine's training checkpoints go through the same weights-only path (:func:`trust_checkpoints_in`): what
vitzoo's training saves is made loadable that way (:func:`to_weights_only`, applied by
``backbones.runtime.WeightsOnlyCheckpointHook``), so no allow-list is needed for them.
"""
import argparse
import os
import pickle
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Iterable, Mapping, Optional

import numpy as np
import torch

__all__ = ['UnsafeCheckpointError', 'load_weights_file', 'find_state_dict', 'strip_prefix', 'to_weights_only',
           'restore_history_buffers', 'trust_checkpoints_in']

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


# ------------------------------------------------------------------------------ training checkpoints
# What mmengine checkpoints written without WeightsOnlyCheckpointHook need besides weights: numpy arrays,
# scalars and dtypes in the message hub (numpy 2 pickles dtypes through ``builtins.getattr``; numpy 1 has
# ``numpy.core``) and mmengine's HistoryBuffer. Only files in a run's own work dir may use them, and
# nothing else (see _load_local_checkpoint).
LEGACY_GLOBALS = frozenset(
    [f'numpy.{core}.multiarray.{name}' for core in ('core', '_core') for name in ('_reconstruct', 'scalar')] +
    ['numpy.ndarray', 'numpy.dtype', 'builtins.getattr', 'mmengine.logging.history_buffer.HistoryBuffer',
     'mmengine.config.config.ConfigDict'])
LEGACY_GLOBAL_PREFIXES = ('numpy.dtypes.', )  # numpy 2's dtype classes (Float64DType, ...)
# A HistoryBuffer as WeightsOnlyCheckpointHook stores it: a plain dict under this single key.
HISTORY_BUFFER_KEY = 'vitzoo.HistoryBuffer'


def to_weights_only(obj: Any) -> Any:
    """``obj`` with every value ``torch.load(weights_only=True)`` refuses turned into one it accepts.

    numpy arrays become tensors, numpy scalars Python numbers, numpy dtypes their names, mmengine's
    ``HistoryBuffer`` a ``{HISTORY_BUFFER_KEY: {...}}`` dict of tensors (:func:`restore_history_buffers`
    turns it back), other mappings plain dicts. Anything else is returned unchanged.
    """
    from mmengine.logging import HistoryBuffer
    if isinstance(obj, HistoryBuffer):
        log_history, count_history = obj.data
        return {HISTORY_BUFFER_KEY: dict(log_history=torch.from_numpy(np.array(log_history)),
                                         count_history=torch.from_numpy(np.array(count_history)),
                                         max_length=int(obj.max_length))}
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy()) if obj.dtype != object else [to_weights_only(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.dtype):
        return str(obj)
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj  # a state dict (EMA weights, ...): kept as is, with its _metadata
        items = ((k, to_weights_only(v)) for k, v in obj.items())
        return OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    if isinstance(obj, (list, tuple)) and not isinstance(obj, torch.Size):
        return type(obj)(to_weights_only(v) for v in obj) if type(obj) in (list, tuple) else \
            [to_weights_only(v) for v in obj]
    return obj


def restore_history_buffers(obj: Any) -> Any:
    """Undo :func:`to_weights_only` for the HistoryBuffers (numpy-backed again, as mmengine expects)."""
    if isinstance(obj, Mapping):
        if set(obj) == {HISTORY_BUFFER_KEY}:
            from mmengine.logging import HistoryBuffer
            state = obj[HISTORY_BUFFER_KEY]
            return HistoryBuffer(state['log_history'].numpy(), state['count_history'].numpy(), state['max_length'])
        return type(obj)((k, restore_history_buffers(v)) for k, v in obj.items())
    return obj


_trusted_dirs = set()
_trusted_files = set()


def trust_checkpoints_in(path: str) -> None:
    """Route mmengine's local checkpoint loading through :func:`_load_local_checkpoint`, trusting ``path``.

    Every checkpoint is first read weights-only; those vitzoo's training writes (with
    :class:`backbones.runtime.WeightsOnlyCheckpointHook`) load that way wherever they are. A directory
    (a run's work dir) additionally lets the checkpoints mmengine wrote there before that hook existed load
    in full, if the only globals they need are numpy's and mmengine's (:data:`LEGACY_GLOBALS`). A
    file path (``--trust-checkpoint``) trusts that one file completely.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    path = os.path.realpath(path)
    (_trusted_files if os.path.isfile(path) else _trusted_dirs).add(path)
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local_checkpoint, force=True)


def _is_legacy_run_checkpoint(path: str) -> bool:
    """Whether ``path`` lies in a trusted work dir and needs only numpy's and mmengine's globals; the pickle
    is scanned, not executed."""
    if not any(os.path.commonpath([path, d]) == d for d in _trusted_dirs):
        return False
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # not a zip checkpoint: nothing to vouch for
        return False
    return all(name in LEGACY_GLOBALS or name.startswith(LEGACY_GLOBAL_PREFIXES) for name in unsafe)


def _load_local_checkpoint(filename: str, map_location=None) -> Any:
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    path = os.path.realpath(filename)
    try:
        return load_weights_file(filename)
    except UnsafeCheckpointError as err:
        if path in _trusted_files or _is_legacy_run_checkpoint(path):
            return torch.load(filename, map_location=map_location, weights_only=False)
        raise UnsafeCheckpointError(
            f'{err}. A checkpoint vitzoo wrote before its checkpoints became weights-only loads from its run\'s '
            'work dir; for a file whose origin you trust, pass --trust-checkpoint') from None
