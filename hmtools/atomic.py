"""The one way this project writes a file that must survive a crash.

A temporary file in the destination's folder (``.<name>.<random>.tmp``) is written, flushed and
fsynced, renamed over the destination with ``os.replace``, and the folder is fsynced so that the
rename itself is durable. Readers see the old file or the new one, never a mix; on an error the
temporary file is removed and the destination is untouched. Used by the mask store, its index,
CVAT exports, training checkpoints, and every report, table and figure a command writes
(:func:`atomic_open`, :func:`atomic_savefig`); writers of many files remove theirs when they fail
(:func:`removed_on_error`, :func:`make_dirs`, :func:`new_folder_removed_on_error`).

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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# The mode of a file that ``open(path, "w")`` would create: mkstemp's own 0o600 would make every
# report, figure and export private to its writer.
_NEW_FILE_MODE = 0o666 & ~_umask()
# ... and of a folder that ``mkdir`` would create (mkdtemp's is 0o700).
NEW_FOLDER_MODE = 0o777 & ~_umask()


def temporary_name(path: Path) -> Path:
    """A fresh, unused temporary path beside ``path`` (``.<name>.<random>.tmp``; the file is
    created empty so that no other writer can take the name), with the mode ``path`` has (or a
    new file would get)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        try:
            mode = os.stat(path).st_mode & 0o7777
        except OSError:
            mode = _NEW_FILE_MODE
        os.fchmod(fd, mode)
    finally:
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


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs) -> Iterator:
    """``open(path, mode)`` for a writer that streams (a CSV writer): the content lands in a
    temporary file that replaces ``path`` only when the block ends without an error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_savefig(fig, path: str | Path, **kwargs) -> Path:
    """``fig.savefig(path)`` of a matplotlib figure, atomically (the format from ``path``'s suffix)."""
    path = Path(path)
    kwargs.setdefault("format", path.suffix.lstrip(".").lower() or "png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **kwargs)
    return path


@contextlib.contextmanager
def removed_on_error() -> Iterator[list[Path]]:
    """For a writer of many files (a dataset, an export folder): yields a list to append each
    file to as it is created, and each folder through :func:`make_dirs`; when the block raises (a
    full disk, Ctrl-C) they are removed, files first, so a failed run leaves none of its files and
    no folder it made behind. A folder is removed only when empty: never what others put there."""
    created: list[Path] = []
    try:
        yield created
    except BaseException:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                else:
                    os.unlink(path)
        raise


def make_dirs(path: str | Path, created: list[Path]) -> Path:
    """``path.mkdir(parents=True, exist_ok=True)`` that appends the folders it makes (``path`` and
    its missing parents, outermost first) to ``created``, a :func:`removed_on_error` list."""
    path = Path(path)
    missing = []
    p = path
    while not os.path.lexists(p) and p.parent != p:
        missing.append(p)
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    created.extend(reversed(missing))
    return path


@contextlib.contextmanager
def new_folder_removed_on_error(path: str | Path, *, keep=lambda: False) -> Iterator[None]:
    """For a command that creates the folder ``path`` (a mask store) and fills it: when the block
    raises, and ``path`` did not exist before it, the folders it made (``path`` and its missing
    parents) are removed with everything in them, unless ``keep()`` says the content is worth
    keeping (finished documents a rerun would skip). A folder that existed before is never touched."""
    path = Path(path)
    outermost = None
    p = path
    while not os.path.lexists(p) and p.parent != p:
        outermost, p = p, p.parent
    try:
        yield
    except BaseException:
        if outermost is not None and os.path.isdir(outermost) and not keep():
            import shutil

            shutil.rmtree(outermost, ignore_errors=True)
        raise
