"""FineDiving-HM mask folders <-> masks: pure converters (the store workflow is
:mod:`hmtools.workflows.finediving_hm`, behind ``hmtools import-hm`` / ``export-hm``).

Layout (FineParser's release, "consistent with FineDiving")::

    <root>/<competition>/<idx>/<NNNNN>.jpg     one mask per frame, same file names as the frames

A video id ``"<competition>__<idx>"`` maps to ``<root>/<competition>/<idx>/``; any other id to
``<root>/<video_id>/``.

Reading rules (choices where the release leaves room; ``reference/datasets.md``):

- Masks are paired with frames **by name** (file stem), never by position: the official loader's
  two sorted globs shift every later frame when one mask is missing. A folder must hold exactly one
  mask per frame; a missing, extra, duplicated or misnamed file rejects the whole folder.
- JPEG or PNG, 1, 3 or 4 channels (read as grayscale), 8 or 16 bits; foreground where
  value / 255 > 0.5 (the official loader's threshold).
- Any resolution with the frame's aspect ratio: a mask of ``h x w`` for a ``H x W`` video is
  accepted when ``|h*W - w*H| <= (H + W) / 2`` (what rounding a scaled size can produce) and
  resized with nearest neighbour; the source size is returned so the caller can record it.
- Paths that leave the mask root (``..`` in an id, symlinks) are refused.

Example:
    >>> rles, resized = hm_folder_to_rles(hm_folder("FineDiving_HM", "01__10"), frames, (256, 455),
    ...                                   Path("FineDiving_HM"))  # doctest: +SKIP
    >>> png = mask_to_hm_image(rle_to_mask(rles[0]), "png")      # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hmtools.errors import StoreError, VideoError
from hmtools.rle import RLE, mask_to_rle
from hmtools.store.records import check_video_id
from hmtools.video import read_frame_image

MASK_SUFFIXES = (".jpg", ".jpeg", ".png")
EXPORT_FORMATS = ("png", "jpg")
JPEG_QUALITY = 100  # the official loader thresholds at 0.5: keep edges free of ringing


def hm_folder(root: str | Path, video_id: str) -> Path:
    """The mask folder of a video: ``<root>/<competition>/<idx>`` for ``"<competition>__<idx>"`` ids."""
    check_video_id(video_id)
    comp, sep, idx = video_id.rpartition("__")
    return Path(root) / comp / idx if sep and comp and idx else Path(root) / video_id


def _inside(path: Path, root: Path, what: str) -> Path:
    resolved = path.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise StoreError(f"{path}: {what} resolves to {resolved}, outside the mask root {root}")
    return resolved


def short_list(items: Iterable[str], limit: int = 3) -> str:
    """``"a, b, c, ... (7 in all)"``: the first ``limit`` names, sorted, for one-line messages."""
    items = sorted(items)
    more = f", ... ({len(items)} in all)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def pair_mask_files(folder: Path, frames: Sequence[str], root: Path, *,
                    allow_gaps: bool = False) -> list[Path | None]:
    """The mask file of every frame, in frame order, paired by file stem.

    Args:
        allow_gaps: a frame without a mask file gets ``None`` (real releases have gaps) instead
            of rejecting the folder; a file that names no frame still rejects it.

    Raises:
        StoreError: one line naming the folder: missing masks (unless ``allow_gaps``), extra or
            duplicated files, other file types, or a path that leaves ``root``.
    """
    root = root.resolve()
    _inside(folder, root, "mask folder")
    if not folder.is_dir():
        raise StoreError(f"{folder}: mask folder not found")
    by_stem: dict[str, Path] = {}
    dupes, strange = [], []
    with os.scandir(folder) as entries:
        for e in entries:
            if e.name.startswith("."):
                continue  # .DS_Store and friends
            path = folder / e.name
            suffix = Path(e.name).suffix.lower()
            if suffix not in MASK_SUFFIXES or not e.is_file():
                strange.append(e.name)
                continue
            if e.is_symlink():
                _inside(path, root, "mask file")
            stem = Path(e.name).stem
            if stem in by_stem:
                dupes.append(e.name)
            by_stem[stem] = path
    if strange:
        raise StoreError(f"{folder}: not a mask image (expected {'/'.join(MASK_SUFFIXES)}): {short_list(strange)}")
    if dupes:
        raise StoreError(f"{folder}: two mask files for the same frame: {short_list(dupes)}")
    stems = [Path(f).stem for f in frames]
    missing = [] if allow_gaps else [f for f, s in zip(frames, stems) if s not in by_stem]
    extra = [by_stem[s].name for s in set(by_stem) - set(stems)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} frame(s) without a mask ({short_list(missing)})")
        if extra:
            parts.append(f"{len(extra)} file(s) matching no frame ({short_list(extra)})")
        raise StoreError(f"{folder}: {'; '.join(parts)} -- masks are paired with frames by name")
    return [by_stem.get(s) for s in stems]


def read_hm_mask(path: Path, size_hw: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """Read one mask image as an ``(H, W)`` bool mask of the video's size.

    Returns:
        ``(mask, source_size_hw)``; the source size differs from ``size_hw`` when it was resized.

    Raises:
        StoreError: unreadable or truncated image, or an aspect ratio other than the video's.
    """
    import cv2

    try:  # the frames' own rule: no end marker, undecodable -> refused (libjpeg would grey-fill)
        image = read_frame_image(path, flags=cv2.IMREAD_GRAYSCALE)
    except VideoError as err:
        raise StoreError(str(err)) from None
    mask = image > 127  # value / 255 > 0.5 for 8-bit images
    h, w = mask.shape
    big_h, big_w = size_hw
    if (h, w) != (big_h, big_w):
        if abs(h * big_w - w * big_h) * 2 > big_h + big_w:
            raise StoreError(f"{path}: mask is {h}x{w} (HxW) but the video is {big_h}x{big_w}: "
                             "another aspect ratio, refusing to stretch it")
        mask = cv2.resize(mask.astype(np.uint8), (big_w, big_h), interpolation=cv2.INTER_NEAREST) > 0
    return mask, (h, w)


def hm_folder_to_rles(folder: Path, frames: Sequence[str], size_hw: tuple[int, int],
                      root: Path, *, allow_gaps: bool = False) -> tuple[list[RLE | None], tuple[int, int] | None]:
    """Read and check a whole mask folder.

    Args:
        folder: the video's mask folder (see :func:`hm_folder`).
        frames: the video's frame names in order; size_hw: its ``(H, W)``.
        root: the mask root no path may leave.
        allow_gaps: frames without a mask file get ``None`` (see :func:`pair_mask_files`).

    Returns:
        One RLE per frame in frame order (``None`` for a gap), and the masks' source size if they
        were resized (``None`` otherwise).

    Raises:
        StoreError: the first problem, one line naming the file.
    """
    paths = pair_mask_files(folder, frames, root, allow_gaps=allow_gaps)
    rles: list[RLE | None] = []
    resized = None
    for path in paths:
        if path is None:
            rles.append(None)
            continue
        mask, src = read_hm_mask(path, size_hw)
        if src != tuple(size_hw):
            if resized is not None and src != resized:
                raise StoreError(f"{path}: mask is {src[0]}x{src[1]} but others in the folder are "
                                 f"{resized[0]}x{resized[1]}")
            resized = src
        rles.append(mask_to_rle(mask))
    return rles, resized


def mask_to_hm_image(mask: np.ndarray, fmt: str = "png") -> bytes:
    """Encode an ``(H, W)`` bool mask as a single-channel 0/255 PNG or JPEG (quality 100)."""
    import cv2

    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt must be one of {EXPORT_FORMATS}, got {fmt!r}")
    img = mask.astype(np.uint8) * 255
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buf = cv2.imencode(f".{fmt}", img, params)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 image
        raise RuntimeError(f"OpenCV could not encode a {fmt} image")
    return buf.tobytes()
