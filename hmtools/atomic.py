"""The one way this project writes a file that must survive a crash.

A temporary file in the destination's folder (``.<name>.<random>.tmp``) is written, flushed and
fsynced, renamed over the destination with ``os.replace``, and the folder is fsynced so that the
rename itself is durable. Readers see the old file or the new one, never a mix; on an error the
temporary file is removed and the destination is untouched. Used by the mask store, its index,
CVAT exports and training checkpoints.

Example:
    >>> atomic_write_text("store/videos/clip.json", text)          # doctest: +SKIP
    >>> with atomic_path("runs/last.pt") as tmp:                     # doctest: +SKIP
    ...     torch.save(payload, tmp)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMP_SUFFIX = ".tmp"


def temporary_name(path: Path) -> Path:
    """A fresh, unused temporary path beside ``path`` (``.<name>.<random>.tmp``; the file is
    created empty so that no other writer can take the name)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def fsync_dir(folder: str | Path) -> None:
    """Make the entries of ``folder`` (a rename into it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on success it is fsynced and
    renamed over ``path`` (then the folder is fsynced), on an exception it is removed.

    The temporary file exists (empty) when the block starts; writers that must create it
    themselves (``os.link``) remove it first.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Replace ``path`` by ``data`` atomically and durably (module docstring)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Replace ``path`` by ``text`` (UTF-8) atomically and durably (module docstring)."""
    return atomic_write_bytes(path, text.encode("utf-8"))
