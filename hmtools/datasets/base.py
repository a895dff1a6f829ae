"""Helpers shared by the dataset adapters: paths kept inside the data root, frame listing, defects."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from hmtools.datasets.sample import Defect
from hmtools.errors import DatasetError

logger = logging.getLogger("hmtools.datasets")

FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")
ON_DEFECT_CHOICES = ("warn", "fail")
_DIGITS = re.compile(r"\d+")


def resolve_root(root: str | Path) -> Path:
    """The data root, resolved; a missing root is a :class:`DatasetError`."""
    resolved = Path(root).expanduser().resolve()
    if not resolved.is_dir():
        raise DatasetError(f"{root}: data root not found (or not a directory)")
    return resolved


def inside_root(root: Path, path: str | Path, what: str) -> Path:
    """Resolve ``path`` (relative paths are taken from ``root``) and check it stays inside root.

    Args:
        root: the resolved data root.
        path: a path from the configuration or built from annotation keys.
        what: what the path is, for the message (``"frames folder"``).

    Raises:
        DatasetError: the path (through ``..`` or a symlink) leaves the root.
    """
    joined = root / path
    resolved = joined.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise DatasetError(f"{joined}: {what} resolves to {resolved}, outside the data root {root}")
    return resolved


def frame_sort_key(name: str) -> tuple:
    """Sort frames by the number in their name (``img_00010`` after ``img_00009``), then by name."""
    numbers = _DIGITS.findall(os.path.splitext(name)[0])
    return (0, int(numbers[-1]), name) if numbers else (1, 0, name)


def list_frames(folder: Path, root: Path) -> list[Path]:
    """The image files of a resolved frame folder, sorted by frame number.

    Symlinked frames are resolved and must stay inside ``root``.

    Raises:
        DatasetError: a frame is a symlink that leaves the root.
    """
    names = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.lower().endswith(FRAME_EXTENSIONS):
                continue
            if entry.is_symlink():
                path = folder / entry.name
                target = path.resolve()
                if not target.is_relative_to(root):
                    raise DatasetError(f"{path}: frame resolves to {target}, outside the data "
                                       f"root {root}")
                if not target.is_file():
                    continue
            elif not entry.is_file():
                continue
            names.append(entry.name)
    names.sort(key=frame_sort_key)
    return [folder / name for name in names]


class DefectLog:
    """Collects per-clip defects and applies the ``on_defect`` policy.

    Args:
        on_defect: ``"warn"`` logs one warning per defect and lets the adapter skip the clip;
            ``"fail"`` raises at the first defect.
    """

    def __init__(self, on_defect: str):
        if on_defect not in ON_DEFECT_CHOICES:
            raise ValueError(f"on_defect must be one of {ON_DEFECT_CHOICES}, got {on_defect!r}")
        self.on_defect = on_defect
        self.defects: list[Defect] = []

    def report(self, video_id: str, problem: str) -> None:
        """Record a defect; raise :class:`DatasetError` naming the clip when failing."""
        defect = Defect(video_id, problem)
        if self.on_defect == "fail":
            raise DatasetError(str(defect))
        logger.warning("%s (skipped)", defect)
        self.defects.append(defect)


def clip_frames(root: Path, folder: Path, video_id: str, log: DefectLog) -> list[Path] | None:
    """The sorted frames of one clip folder, or ``None`` after reporting a missing/empty folder.

    Raises:
        DatasetError: the folder or a frame leaves the data root.
    """
    resolved = inside_root(root, folder, f"frame folder of {video_id}")
    if not resolved.is_dir():
        log.report(video_id, f"missing frame folder {root / folder}")
        return None
    frames = list_frames(resolved, root)
    if not frames:
        log.report(video_id, f"empty frame folder {resolved}")
        return None
    return frames
