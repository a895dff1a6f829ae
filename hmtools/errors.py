"""User-facing errors.

Every problem caused by the user's input (a corrupt file, a wrong path, a malformed RLE) is raised
as an :class:`HMError` whose message is one line naming the file and the problem. The command line
prints that line without a traceback and exits non-zero; programming errors keep their traceback.
"""

from __future__ import annotations

import errno
import os
import re

# OSErrors that the user's machine or input cause (a full disk, a read-only or unwritable store, a
# path of the wrong kind): one line like an HMError; other OSErrors keep their traceback.
USER_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS,
                         errno.EISDIR, errno.ENOTDIR, errno.ENOENT, errno.EEXIST, errno.ENOTEMPTY))
_WRAPPED = re.compile(r"^(?:[\w.]+\.)?\w+(?:Error|Exception): (.*)$")


# Of those, the ones that stop a batch of videos: every later video would fail the same way.
_DISK_ERRNOS = frozenset((errno.ENOSPC, errno.EDQUOT, errno.EROFS))
_PERMISSION_ERRNOS = frozenset((errno.EACCES, errno.EPERM))


def stops_the_batch(err: BaseException, store_root: str | os.PathLike) -> bool:
    """Whether an error in one video of a batch must stop the batch instead of being reported
    for that video: a full disk or a read-only file system, or a permission denied inside the
    store (an unreadable input video stays that video's problem)."""
    if not isinstance(err, OSError):
        return False
    if err.errno in _DISK_ERRNOS:
        return True
    if err.errno in _PERMISSION_ERRNOS:
        root = os.path.abspath(store_root)
        names = [n for n in (err.filename, getattr(err, "filename2", None)) if isinstance(n, (str, os.PathLike))]
        return not names or any(os.path.abspath(os.fspath(n)).startswith(root + os.sep) for n in names)
    return False


def user_message(err: BaseException) -> str | None:
    """The one line to show for an error the user caused, or ``None`` for a programming error.

    An :class:`HMError` re-raised from a DataLoader worker carries torch's traceback in its
    message ("Caught DatasetError in DataLoader worker process 0. Original Traceback ..."): its
    last line is ours.
    """
    if isinstance(err, HMError):
        lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
        if len(lines) > 1 and "Original Traceback" in str(err):
            match = _WRAPPED.match(lines[-1])
            return match.group(1) if match else lines[-1]
        return lines[0] if lines else type(err).__name__
    if isinstance(err, OSError) and err.errno in USER_ERRNOS:
        where = f"{err.filename}: " if err.filename else ""
        return f"{where}{err.strerror or err}"
    return None


class HMError(Exception):
    """Base class of errors caused by user input; ``str(err)`` is the one line shown to the user."""


class RLEError(HMError, ValueError):
    """An RLE is malformed (bad characters, negative runs, runs not summing to H*W)."""


class StoreError(HMError):
    """A mask-store document or folder is missing, corrupt or would become invalid."""


class DatasetError(HMError):
    """A dataset folder, annotation file or split is missing or malformed."""


class VideoError(HMError):
    """A video file or frame folder cannot be read."""


class CheckpointError(HMError):
    """A model checkpoint is missing, unreadable, or does not match the architecture."""
