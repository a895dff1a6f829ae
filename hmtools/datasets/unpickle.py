"""A restricted unpickler for dataset annotation files.

Unpickling an untrusted file can run arbitrary code: a pickle names any importable callable and
the standard unpickler calls it. The annotation pickles of FineDiving and MTL-AQA only need
builtin containers and scalars plus numpy arrays and scalars, so :func:`safe_load_pickle`
resolves exactly those names and refuses every other one *before* anything is called.

Example:
    >>> from hmtools.datasets.unpickle import safe_load_pickle
    >>> labels = safe_load_pickle("Annotations/fine-grained_annotation_aqa.pkl")  # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import importlib
import pickle
import struct
from pathlib import Path

from hmtools.errors import DatasetError

# Builtin types that pickles may name (sets and frozensets go through REDUCE below protocol 4;
# the other containers and scalars have their own opcodes but are harmless to allow by name).
_BUILTIN_NAMES = frozenset({
    "set", "frozenset", "list", "dict", "tuple", "int", "float", "complex", "bool", "str",
    "bytes", "bytearray", "slice", "range",
})

# (module, name) -> (module to import, attribute). numpy 1.x pickles say ``numpy.core``, numpy 2
# pickles say ``numpy._core``; both are resolved to whichever module this numpy provides.
_NUMPY_NAMES = {
    ("multiarray", "_reconstruct"),
    ("multiarray", "scalar"),
    ("numeric", "_frombuffer"),
}


def _numpy_object(submodule: str, name: str):
    for package in ("numpy._core", "numpy.core"):
        try:
            module = importlib.import_module(f"{package}.{submodule}")
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"numpy has no {submodule}.{name}")


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only builtin containers/scalars and numpy arrays/scalars.

    Args:
        file: a binary file object.
        source: the name used in error messages (usually the file path).
    """

    def __init__(self, file, *, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if module in ("builtins", "__builtin__") and name in _BUILTIN_NAMES:
            return getattr(builtins, name)
        if module == "_codecs" and name == "encode":
            # Protocol 2 stores bytes (and numpy buffers) as _codecs.encode(str, "latin1").
            import _codecs

            return _codecs.encode
        if module == "numpy" and name in ("ndarray", "dtype"):
            import numpy

            return getattr(numpy, name)
        for package in ("numpy.core.", "numpy._core."):
            if module.startswith(package) and (module[len(package):], name) in _NUMPY_NAMES:
                return _numpy_object(module[len(package):], name)
        raise DatasetError(
            f"{self.source}: refused to unpickle {module}.{name} "
            "(only builtins and numpy arrays are allowed)"
        )

    def persistent_load(self, pid):
        raise DatasetError(f"{self.source}: refused to unpickle a persistent id "
                           "(only builtins and numpy arrays are allowed)")


# What a truncated or garbled pickle raises inside the unpickler.
_CORRUPT_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                   IndexError, KeyError, struct.error, UnicodeDecodeError, OverflowError,
                   MemoryError, RecursionError)


def safe_load_pickle(path: str | Path) -> object:
    """Load a pickle that may only contain builtin containers/scalars and numpy arrays/scalars.

    Args:
        path: the pickle file.

    Returns:
        The unpickled object.

    Raises:
        DatasetError: the file is missing or unreadable, names anything other than builtins and
            numpy arrays (``"<path>: refused to unpickle os.system (...)"``; nothing is
            called), or is truncated/corrupt.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            return RestrictedUnpickler(handle, source=str(path)).load()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a directory, expected a pickle file") from None
    except PermissionError:
        raise DatasetError(f"{path}: permission denied") from None
    except _CORRUPT_ERRORS as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DatasetError(f"{path}: corrupt or truncated pickle ({detail})") from None
