"""AQA-7 adapter (Parmar & Morris, WACV 2019), in the layout of CoRe's ``SevenPair.py``.

Layout (``reference/datasets.md``)::

    <root>/Seven/<class>-out/<idx:03d>/img_<i:05d>.jpg
    <root>/Split_4/split_4_{train,test}_list.mat   keys consolidated_{train,test}_list,
                                                   rows [class_idx (1-based), sample_idx, score]

Choices: every frame of the clip folder is listed (CoRe reads the first 103; consumers sample).
The class name is the action type and the event; difficulty is ``None`` (the split files carry
none); the two sync-diving classes are synchronized. When ``Seven/`` or ``Split_4/`` is absent
the root itself (or ``Seven/Split_4``) is tried, as in CoRe where both live under one data root.
"""

from __future__ import annotations

import math
from pathlib import Path

from hmtools.datasets.base import DefectLog, clip_frames, inside_root, resolve_root
from hmtools.datasets.sample import Dataset, Sample
from hmtools.errors import DatasetError

# Row class_idx k (1-based) of the split files is AQA7_CLASSES[k - 1].
AQA7_CLASSES = ("diving", "gym_vault", "ski_big_air", "snowboard_big_air", "sync_diving_3m",
                "sync_diving_10m", "trampoline")
SPLIT_KEYS = {"train": "consolidated_train_list", "test": "consolidated_test_list"}


def aqa7_video_id(class_name: str, idx: int) -> str:
    """The store id of an AQA-7 clip: ``"<class>-<idx:03d>"``."""
    return f"{class_name}-{idx:03d}"


def _load_split(path: Path, split: str):
    try:
        import scipy.io
    except ImportError:  # pragma: no cover - scipy is a declared dependency
        raise DatasetError(f"{path}: reading AQA-7 .mat splits needs scipy (pip install scipy)") \
            from None
    if not path.is_file():
        raise DatasetError(f"{path}: split file not found")
    try:
        mat = scipy.io.loadmat(str(path))
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError,
            NotImplementedError) as err:
        raise DatasetError(f"{path}: not a readable .mat file ({err})") from None
    rows = mat.get(SPLIT_KEYS[split])
    if rows is None or getattr(rows, "ndim", 0) != 2 or rows.shape[1] < 3:
        raise DatasetError(f"{path}: expected a {SPLIT_KEYS[split]} matrix with rows "
                           "[class_idx, sample_idx, score]")
    return rows


def read_aqa7(root: str | Path, *, on_defect: str = "warn", frames_dir: str | None = None,
              split_dir: str | None = None, classes: tuple[str, ...] | None = None) -> Dataset:
    """Read AQA-7.

    Args:
        root: the dataset root.
        on_defect: ``"warn"`` skips a defective clip with a logged warning; ``"fail"`` raises.
        frames_dir: folder holding ``<class>-out/`` (default ``Seven``, else the root).
        split_dir: folder holding the ``.mat`` files (default ``Split_4``, else ``Seven/Split_4``).
        classes: keep only these class names (default: every class in the split files).

    Returns:
        A :class:`Dataset` named ``"aqa7"``; samples ordered by (split, class index, idx).

    Raises:
        DatasetError: missing or unreadable split files, an unknown class index, a path leaving
            the root, or (with ``on_defect="fail"``) the first defective clip.
    """
    root = resolve_root(root)
    log = DefectLog(on_defect)
    if frames_dir is None:
        frames_dir = "Seven" if (root / "Seven").is_dir() else "."
    if split_dir is None:
        split_dir = "Split_4" if (root / "Split_4").is_dir() else str(Path(frames_dir) / "Split_4")
    frames_root = inside_root(root, frames_dir, "frames folder")
    splits = inside_root(root, split_dir, "split folder")
    if classes is not None:
        unknown = set(classes) - set(AQA7_CLASSES)
        if unknown:
            raise ValueError(f"unknown AQA-7 classes {sorted(unknown)}; known: {AQA7_CLASSES}")

    samples, seen = [], set()
    for split in ("train", "test"):
        path = splits / f"split_4_{split}_list.mat"
        rows = _load_split(path, split)
        entries = []
        for row in rows:
            class_idx, idx, score = float(row[0]), float(row[1]), float(row[2])
            if not (class_idx.is_integer() and 1 <= class_idx <= len(AQA7_CLASSES)
                    and idx.is_integer() and idx >= 0):
                raise DatasetError(f"{path}: bad row {row.tolist()} (expected class_idx 1.."
                                   f"{len(AQA7_CLASSES)} and an integer sample index)")
            entries.append((int(class_idx), int(idx), score))
        for class_idx, idx, score in sorted(entries):
            name = AQA7_CLASSES[class_idx - 1]
            key = (name, idx)
            if (classes is not None and name not in classes) or key in seen:
                continue
            seen.add(key)
            video_id = aqa7_video_id(name, idx)
            if not math.isfinite(score):
                log.report(video_id, f"score is not a finite number ({score})")
                continue
            frames = clip_frames(root, frames_root / f"{name}-out" / f"{idx:03d}", video_id, log)
            if frames is None:
                continue
            samples.append(Sample(
                dataset="aqa7", key=key, video_id=video_id, frame_paths=tuple(frames),
                action_type=name, score=score, difficulty=None, transitions=(), split=split,
                synchronized=name.startswith("sync_"), event=name,
            ))
    return Dataset("aqa7", root, samples, log.defects)
