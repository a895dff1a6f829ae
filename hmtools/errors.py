"""User-facing errors.

Every problem caused by the user's input (a corrupt file, a wrong path, a malformed RLE) is raised
as an :class:`HMError` whose message is one line naming the file and the problem. The command line
prints that line without a traceback and exits non-zero; programming errors keep their traceback.
"""

from __future__ import annotations


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
