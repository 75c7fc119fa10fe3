"""A protocol-2 pickle writer that writes ``bytes`` as Python-2 ``str``, like the official CIFAR files.

The official pickles were written by Python 2: their keys and names are Python-2 ``str``, which Python 3
returns as ``str`` with ``encoding='latin1'`` (how mmpretrain and torchvision read them) and as ``bytes``
with ``encoding='bytes'``. Python 3's pickler writes ``bytes`` in a form that stays ``bytes`` with either
encoding (and breaks ``entry['data']``), and its public API cannot change how ``bytes`` are written
(``reducer_override`` is not called for them), so this module writes the few opcodes these flat dicts
need itself, exactly as ``pickle`` would apart from the string opcodes.
"""
from __future__ import annotations

import pickle
import struct
import types
from typing import Any, BinaryIO, Dict, Tuple

# numpy >= 2 names its internals numpy._core; numpy.core is the name every numpy version loads.
MODULE_ALIASES = {'numpy._core.multiarray': 'numpy.core.multiarray'}
BATCH_SIZE = 1000  # pickle's batch of APPENDS / SETITEMS
GLOBALS = (type, types.FunctionType, types.BuiltinFunctionType)


class Py2PickleWriter:
    """Writes dicts, lists, tuples, ``bytes`` (as Python-2 ``str``), ``str``, ints, bools, ``None`` and
    objects that reduce to these (numpy arrays and dtypes) with protocol 2."""

    def __init__(self, file: BinaryIO) -> None:
        self.write = file.write
        # id -> (memo index, object); the object is kept so that its id is not reused
        self.memo: Dict[int, Tuple[int, Any]] = {}

    def dump(self, obj: Any) -> None:
        self.write(pickle.PROTO + b'\x02')
        self.save(obj)
        self.write(pickle.STOP)

    def memoize(self, obj: Any) -> None:
        index = len(self.memo)
        self.memo[id(obj)] = (index, obj)
        self.write(pickle.BINPUT + bytes([index]) if index < 256 else pickle.LONG_BINPUT + struct.pack('<I', index))

    def save(self, obj: Any) -> None:
        if id(obj) in self.memo:
            index = self.memo[id(obj)][0]
            self.write(pickle.BINGET + bytes([index]) if index < 256 else pickle.LONG_BINGET + struct.pack('<I', index))
        elif obj is None:
            self.write(pickle.NONE)
        elif obj is True or obj is False:
            self.write(pickle.NEWTRUE if obj else pickle.NEWFALSE)
        elif type(obj) is int:
            self.save_int(obj)
        elif type(obj) is bytes:
            head = (pickle.SHORT_BINSTRING + bytes([len(obj)]) if len(obj) < 256
                    else pickle.BINSTRING + struct.pack('<i', len(obj)))
            self.write(head + obj)
            self.memoize(obj)
        elif type(obj) is str:
            data = obj.encode('utf-8', 'surrogatepass')
            self.write(pickle.BINUNICODE + struct.pack('<I', len(data)) + data)
            self.memoize(obj)
        elif type(obj) is tuple:
            self.save_tuple(obj)
        elif type(obj) is list:
            self.write(pickle.EMPTY_LIST)
            self.memoize(obj)
            self.save_batches(obj, pickle.APPEND, pickle.APPENDS)
        elif type(obj) is dict:
            self.write(pickle.EMPTY_DICT)
            self.memoize(obj)
            self.save_batches(list(obj.items()), pickle.SETITEM, pickle.SETITEMS)
        elif isinstance(obj, GLOBALS):
            module = MODULE_ALIASES.get(obj.__module__, obj.__module__)
            self.write(pickle.GLOBAL + f'{module}\n{obj.__qualname__}\n'.encode('ascii'))
            self.memoize(obj)
        else:
            self.save_reduce(obj)

    def save_int(self, value: int) -> None:
        if 0 <= value <= 0xff:
            self.write(pickle.BININT1 + bytes([value]))
        elif 0 <= value <= 0xffff:
            self.write(pickle.BININT2 + struct.pack('<H', value))
        elif -0x80000000 <= value <= 0x7fffffff:
            self.write(pickle.BININT + struct.pack('<i', value))
        else:
            raise ValueError(f'integer {value} does not fit in 32 bits; the CIFAR files hold none')

    def save_tuple(self, items: tuple) -> None:
        if not items:
            self.write(pickle.EMPTY_TUPLE)
            return
        if len(items) > 3:
            self.write(pickle.MARK)
        for item in items:
            self.save(item)
        self.write({1: pickle.TUPLE1, 2: pickle.TUPLE2, 3: pickle.TUPLE3}.get(len(items), pickle.TUPLE))
        self.memoize(items)

    def save_batches(self, items: list, one: bytes, many: bytes) -> None:
        """Append list items, or set (key, value) dict items, in pickle's batches."""
        for start in range(0, len(items), BATCH_SIZE):
            batch = items[start:start + BATCH_SIZE]
            if len(batch) > 1:
                self.write(pickle.MARK)
            for item in batch:
                for part in (item if one == pickle.SETITEM else (item,)):
                    self.save(part)
            self.write(many if len(batch) > 1 else one)

    def save_reduce(self, obj: Any) -> None:
        function, args, state, *rest = obj.__reduce_ex__(2)
        if any(part is not None for part in rest):
            raise TypeError(f'cannot write {type(obj).__name__}: it reduces to list or dict items')
        self.save(function)
        self.save(args)
        self.write(pickle.REDUCE)
        self.memoize(obj)
        if state is not None:
            self.save(state)
            self.write(pickle.BUILD)


def dump_py2_pickle(obj: dict, path: str) -> None:
    """Pickle ``obj`` (protocol 2) the way Python 2 did.

    Args:
        obj: The object, with ``bytes`` for every Python-2 ``str``.
        path: Destination path.
    """
    with open(path, 'wb') as f:
        Py2PickleWriter(f).dump(obj)
