"""CVAT's native mask encoding <-> compressed COCO RLE.

CVAT stores a mask as run lengths over its *tight box*, in row-major order (left to right, then top
to bottom), starting with a background run (0 when the box's top-left pixel is foreground). In
"CVAT for images 1.1" XML the runs are the ``rle`` attribute (comma-separated integers, CVAT writes
``"3, 2, 5"``) and the box is ``left``/``top``/``width``/``height``; CVAT's API form appends the box
as ``[x1, y1, x2 - 1, y2 - 1]`` (inclusive right/bottom) to the runs instead.
COCO RLE is column-major over the whole image. Both conversions go through the dense mask of the
one frame at hand.

An empty mask has no box and therefore no CVAT form: :func:`coco_rle_to_cvat` refuses it and the
CVAT task writer represents "nobody there" without a mask (see :mod:`hmtools.formats.cvat_xml`).

Example:
    >>> from hmtools.rle import mask_to_rle, rle_to_mask
    >>> m = np.zeros((4, 5), bool); m[1, 2:4] = True; m[2, 3] = True
    >>> coco_rle_to_cvat(mask_to_rle(m))
    ('0, 2, 1, 1', 2, 1, 2, 2)
    >>> bool((rle_to_mask(cvat_to_coco_rle('0, 2, 1, 1', 2, 1, 2, 2, (4, 5))) == m).all())
    True
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from pycocotools import mask as cocomask

from hmtools.errors import RLEError
from hmtools.rle import RLE, mask_to_rle

# A run or a box coordinate with more digits than this is not a real image.
_MAX_DIGITS = 10


def box_mask_to_runs(box_mask: np.ndarray) -> list[int]:
    """Row-major run lengths of an ``(h, w)`` mask, starting with a (possibly 0) background run."""
    flat = np.asarray(box_mask, dtype=bool).ravel()
    if flat.size == 0:
        return []
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return runs.tolist()


def runs_to_box_mask(runs: Sequence[int], height: int, width: int) -> np.ndarray:
    """Inverse of :func:`box_mask_to_runs`: ``(height, width)`` bool. Runs must sum to height*width."""
    runs_arr = np.asarray(runs, dtype=np.int64)
    values = (np.arange(runs_arr.size) % 2).astype(bool)
    return np.repeat(values, runs_arr).reshape(height, width)


def coco_rle_to_cvat(rle: RLE) -> tuple[str, int, int, int, int]:
    """A non-empty COCO RLE as CVAT's ``(rle_string, left, top, width, height)``.

    Raises:
        ValueError: the mask is empty (CVAT has no empty mask shape).
    """
    if rle.area == 0:
        raise ValueError("an empty mask has no CVAT mask form (represent it without a mask shape)")
    x, y, w, h = rle.bbox_xywh
    box = cocomask.decode(rle.to_coco())[y:y + h, x:x + w]  # crop before any copy of the frame
    return ", ".join(map(str, box_mask_to_runs(box))), int(x), int(y), int(w), int(h)


def coco_rle_to_cvat_points(rle: RLE) -> list[int]:
    """CVAT's API form: runs followed by ``[x1, y1, x2 - 1, y2 - 1]`` (inclusive corners)."""
    runs, left, top, width, height = coco_rle_to_cvat(rle)
    return [int(r) for r in runs.split(",")] + [left, top, left + width - 1, top + height - 1]


def parse_cvat_runs(text: str, *, where: str = "CVAT mask") -> np.ndarray:
    """Parse an untrusted ``rle`` attribute (``"3, 2, 5"``) into non-negative int64 runs."""
    tokens = str(text).split(",")
    if tokens == [""] or not str(text).strip():
        raise RLEError(f"{where}: rle is empty")
    try:
        runs = np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next((t for t in tokens if not t.strip().isdigit()), tokens[0])
        raise RLEError(f"{where}: rle holds {bad.strip()[:20]!r}, expected non-negative integers "
                       "separated by commas") from None
    if (runs < 0).any() or (runs >= 10 ** _MAX_DIGITS).any():
        raise RLEError(f"{where}: rle holds a value outside 0..{10 ** _MAX_DIGITS - 1}, expected "
                       "non-negative integers separated by commas")
    return runs


def cvat_to_coco_rle(runs: str | Sequence[int], left: int, top: int, width: int, height: int,
                     size_hw: Sequence[int], *, where: str = "CVAT mask") -> RLE:
    """Decode CVAT's box runs into a whole-image COCO RLE of ``size_hw``, validating everything.

    Args:
        runs: the ``rle`` attribute string or its integers (background run first).
        left, top, width, height: the box in pixels.
        size_hw: ``(H, W)`` of the image.
        where: label for error messages (file, frame).

    Raises:
        RLEError: bad integers, a box outside the image, or runs that do not sum to width*height.
    """
    runs = parse_cvat_runs(runs, where=where) if isinstance(runs, str) else np.asarray(runs, dtype=np.int64)
    h_img, w_img = (int(v) for v in size_hw)
    left, top, width, height = (_coord(v, name, where) for v, name in
                                ((left, "left"), (top, "top"), (width, "width"), (height, "height")))
    if width <= 0 or height <= 0:
        raise RLEError(f"{where}: box {width}x{height} is empty")
    if left + width > w_img or top + height > h_img:
        raise RLEError(f"{where}: box left={left} top={top} {width}x{height} leaves the "
                       f"{w_img}x{h_img} (WxH) image")
    if runs.size == 0 or (runs < 0).any():
        raise RLEError(f"{where}: rle holds a negative run or none at all")
    total = int(runs.sum())
    if total != width * height:
        raise RLEError(f"{where}: rle runs sum to {total}, expected width*height = {width}x{height} = "
                       f"{width * height}")
    # uint8 in Fortran order is what pycocotools encodes from, so mask_to_rle copies nothing.
    mask = np.zeros((h_img, w_img), dtype=np.uint8, order="F")
    mask[top:top + height, left:left + width] = runs_to_box_mask(runs, height, width)
    return mask_to_rle(mask)


def cvat_points_to_coco_rle(points: Sequence[float], size_hw: Sequence[int], *,
                            where: str = "CVAT mask") -> RLE:
    """Decode CVAT's API form (runs + ``[x1, y1, x2 - 1, y2 - 1]``) into a COCO RLE."""
    if len(points) < 5:
        raise RLEError(f"{where}: expected runs followed by 4 box values, got {len(points)} numbers")
    x1, y1, x2, y2 = (_coord(v, "box", where) for v in points[-4:])
    runs = [_coord(v, "rle", where) for v in points[:-4]]
    return cvat_to_coco_rle(runs, x1, y1, x2 - x1 + 1, y2 - y1 + 1, size_hw, where=where)


def _coord(value, name: str, where: str) -> int:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise RLEError(f"{where}: {name} must be an integer, got {str(value)[:20]!r}") from None
    if not math.isfinite(f) or f != int(f) or f < 0 or f >= 10 ** _MAX_DIGITS:
        raise RLEError(f"{where}: {name} must be a non-negative integer, got {str(value)[:20]!r}")
    return int(f)
