"""Local model checkpoints: existence checks with a useful error, hashing for provenance, loading.

No weights are ever downloaded: users pass a local file, and a missing one raises
:class:`CheckpointError` naming the file and where it is published.

Untrusted files stay data: :func:`load_state_file` uses ``torch.load(weights_only=True)``; only on
an explicit flag does it fall back to a restricted unpickler that rebuilds tensors and containers
and turns every other class (training objects pickled beside the weights) into an inert placeholder.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import struct
import threading
import zipfile
from pathlib import Path

from hmtools.errors import CheckpointError

_HASH_CACHE: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def require_checkpoint(path: str | Path | None, what: str, published_at: str) -> Path:
    """Return ``path`` if it is a readable file, else raise a one-line :class:`CheckpointError`."""
    if path is None:
        raise CheckpointError(f"{what}: no checkpoint given (pass a local file; published at "
                              f"{published_at})")
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: {what} checkpoint not found (download it from {published_at})")
    return p


def file_sha256(path: str | Path, chunk_bytes: int = 1 << 22) -> str:
    """Hex sha256 of a file, streamed; cached per process by (path, size, mtime).

    Example:
        >>> import tempfile; f = tempfile.NamedTemporaryFile(delete=False); _ = f.write(b"abc"); f.close()
        >>> file_sha256(f.name)[:12]
        'ba7816bf8f01'
    """
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while chunk := f.read(chunk_bytes):
            h.update(chunk)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_CACHE[key] = digest
    return digest


class _Placeholder:
    """Stands in for a class the restricted unpickler refuses to import; keeps its state as data."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


_SAFE_BUILTINS = {"set", "frozenset", "slice", "range", "complex", "bytearray", "dict", "list",
                  "tuple", "int", "float", "bool", "str", "bytes"}
_SAFE_GLOBALS = {("collections", "OrderedDict"), ("torch", "Size"), ("torch", "device"),
                 ("torch.nn.parameter", "Parameter"), ("numpy", "ndarray"), ("numpy", "dtype"),
                 ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                 ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}


def _is_safe_global(module: str, name: str, found) -> bool:
    """Only data constructors: an explicit list, torch's tensor rebuilders, storages and dtypes.

    Anything else (``numpy.memmap``, ``os.system``, a training class) could run code or touch files
    when the pickle calls it, so it never loads.
    """
    import torch

    if (module, name) in _SAFE_GLOBALS:
        return True
    if module.startswith("torch"):
        return (name.startswith("_rebuild") or name.endswith("Storage")
                or isinstance(found, torch.dtype))
    return module.startswith(("numpy.dtypes", "numpy.dtype")) and isinstance(found, type)


class _PlaceholderUnpickler(pickle.Unpickler):
    """Data constructors load (see :func:`_is_safe_global`); any other global (a function to
    call, a training class) becomes an inert placeholder class."""

    def find_class(self, module: str, name: str):
        if module == "builtins":
            if name in _SAFE_BUILTINS:
                return super().find_class(module, name)
        elif module.split(".")[0] in ("torch", "collections", "numpy"):
            try:
                found = super().find_class(module, name)
            except (ImportError, AttributeError):
                found = None
            if found is not None and _is_safe_global(module, name, found):
                return found
        return type(name, (_Placeholder,), {"__module__": f"placeholder.{module}"})


class _PlaceholderPickle:
    """A ``pickle_module`` for ``torch.load`` whose unpickler neuters unknown classes."""

    Unpickler = _PlaceholderUnpickler
    __name__ = "hmtools_placeholder_pickle"

    @staticmethod
    def load(f, **kwargs):
        return _PlaceholderUnpickler(f, **kwargs).load()


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Sentences of torch's messages that users must not act on (loading with weights_only=False runs
# whatever the file pickled) or cannot act on (allowlisting globals in code).
_ADVICE = ("weights_only", "Re-running", "add_safe_globals", "safe_globals", "This file can still be loaded",
           "Check the documentation")
REFUSED = "it holds objects that a weights-only load refuses"


def torch_load_reason(err: BaseException) -> str:
    """Why ``torch.load`` failed, in whole sentences and without torch's advice to load with
    ``weights_only=False`` (unsafe) or to allowlist globals: the ``WeightsUnpickler error`` itself
    when there is one (``Unsupported global: GLOBAL __main__.Foo was not an allowed global by
    default.``), else the first sentence of the message.

    Example:
        >>> torch_load_reason(EOFError("Ran out of input"))
        'EOFError: Ran out of input'
    """
    text = _ANSI.sub("", str(err)).strip()
    if "WeightsUnpickler error:" in text:  # the reason is its first paragraph
        text = re.split(r"\n\s*\n", text.split("WeightsUnpickler error:", 1)[1].strip())[0]
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if s.strip()]
    kept = [s for s in sentences if not any(a in s for a in _ADVICE)]
    reason = kept[0] if kept else ""
    if isinstance(err, pickle.UnpicklingError):
        return reason or REFUSED
    if isinstance(err, struct.error):  # the legacy loader ran out of bytes reading a header
        return "too short for a torch file"
    return f"{type(err).__name__}: {reason}" if reason else type(err).__name__


# What ``torch.load`` raises on a file that is not a whole torch checkpoint (shared by every loader
# of checkpoints, here and in fineparser): a text file or a PNG (UnpicklingError; KeyError from
# the legacy loader), a cut zip (RuntimeError, BadZipFile), a few stray bytes (struct.error: the
# legacy loader reading a header the file does not hold), an empty file (EOFError).
LOAD_ERRORS = (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError,
               zipfile.BadZipFile, struct.error)


def zip_damage(path: str | Path) -> str | None:
    """Why a zip-format torch file is damaged, or None when every member's CRC-32 holds.

    ``torch.save`` writes a CRC-32 for every member of its zip archive (the pickle and one record
    per tensor) but ``torch.load`` does not check them: a flipped byte inside a tensor loads
    silently as a wrong weight (a demo checkpoint with 50 flipped bytes evaluated at R-L2 1053
    instead of 1.5). Reading the members once more costs a third to a half of the load (0.08-0.15 s
    against 0.25 s for a 400 MB file). Files that
    are not zip archives (the legacy format, a cut file) are torch.load's to judge: None.

    Example:
        >>> import tempfile, torch; p = tempfile.mktemp(suffix=".pt"); torch.save({"w": torch.ones(4)}, p)
        >>> zip_damage(p) is None
        True
    """
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as err:
        return f"a damaged zip archive: {err}"
    if bad is None:
        return None
    record = bad.split("/", 1)[1] if "/" in bad else bad  # drop the archive's top folder
    return f"the bytes of its record {record!r} fail their CRC-32 check: the file is damaged"


def load_state_file(path: Path, allow_placeholders: bool = False,
                    retry_flag: str | None = "--allow-pickled-objects"):
    """``torch.load`` a checkpoint on the CPU, ``weights_only=True`` first.

    Args:
        path: checkpoint file.
        allow_placeholders: if the safe load fails (pickled training objects), retry with the
            restricted unpickler that maps unknown classes to placeholders. Only on user request.
        retry_flag: the caller's option that sets ``allow_placeholders``, suggested in the
            message; ``None`` when the caller has none.

    Raises:
        CheckpointError: the file cannot be read (and the fallback is off or fails too).
    """
    import torch

    if damage := zip_damage(path):
        raise CheckpointError(f"{path}: corrupt checkpoint ({damage})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = torch_load_reason(err)
        if reason.startswith("Unsupported operand"):  # not a pickle at all (a text file, a PNG, ...)
            raise CheckpointError(f"{path}: cannot read checkpoint (not a torch file: {reason})") from None
        if not allow_placeholders:
            hint = f"; if you trust the file's origin, retry with {retry_flag}" if retry_flag else ""
            raise CheckpointError(f"{path}: holds pickled objects, not only weights "
                                  f"({reason}){hint}") from None
    except KeyError:  # the legacy loader reading a text file's bytes as a pickle protocol
        raise CheckpointError(f"{path}: cannot read checkpoint (not a torch file)") from None
    except LOAD_ERRORS as err:
        raise CheckpointError(f"{path}: cannot read checkpoint ({torch_load_reason(err)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=False,
                          pickle_module=_PlaceholderPickle)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError, TypeError,
            AttributeError) as err:
        raise CheckpointError(f"{path}: cannot read checkpoint even with placeholders "
                              f"({torch_load_reason(err)})") from None


def describe_mismatch(missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    """A short, one-line summary of a strict ``load_state_dict`` mismatch."""
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            parts.append(f"{label}: {', '.join(keys[:3])}{more}")
    return "; ".join(parts)


def strict_load(module, state: dict, path: Path, what: str) -> None:
    """``module.load_state_dict(state, strict=True)`` with a one-line :class:`CheckpointError`."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(f"{path}: does not match {what} ({describe_mismatch(missing, unexpected, shapes)})")
    module.load_state_dict(state, strict=True)

