"""Pixel operations of the classical segmenter: colour codes and histograms, the colour-separation
score, connected components under a box, hole filling, and splitting overlapping masks.

Pure functions of arrays (no state); :mod:`hmtools.pseudo.classical` composes them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hmtools.pseudo.base import SegmentResult


def fill_holes(mask: np.ndarray) -> np.ndarray:
    import cv2

    h, w = mask.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = mask
    cv2.floodFill(flood, None, (0, 0), 1)  # background reachable from the border
    return mask | (flood[1:-1, 1:-1] == 0)


def component_under_box(mask: np.ndarray, box_local: tuple[int, int, int, int],
                         inside_box_only: bool = False) -> np.ndarray:
    """The connected components that overlap the box's central third; failing that, the largest
    one overlapping the box (``inside_box_only``) or anywhere. Empty when there is none."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    x1, y1, x2, y2 = box_local
    cx1, cx2 = x1 + (x2 - x1) // 3, x2 - (x2 - x1) // 3
    cy1, cy2 = y1 + (y2 - y1) // 3, y2 - (y2 - y1) // 3
    central = [c for c in np.unique(labels[cy1:max(cy2, cy1 + 1), cx1:max(cx2, cx1 + 1)]) if c != 0]
    if not central:
        pool = [c for c in np.unique(labels[y1:y2, x1:x2]) if c != 0] if inside_box_only \
            else list(range(1, n))
        if not pool:
            return np.zeros(mask.shape, bool)
        central = [max(pool, key=lambda c: stats[c, cv2.CC_STAT_AREA])]
    # Of the central components keep the big ones (clutter specks under the box go).
    areas = stats[central, cv2.CC_STAT_AREA]
    keep = [c for c, a in zip(central, areas) if a >= 0.2 * areas.max()]
    return np.isin(labels, keep)


def colour_separation(image_rgb: np.ndarray, mask: np.ndarray, ring_px: int = 5) -> float:
    """``1 - histogram intersection`` of the mask's colours and a ring just outside it, in [0, 1]."""
    import cv2

    if not mask.any():
        return 0.0
    m8 = mask.astype(np.uint8)
    ring = cv2.dilate(m8, np.ones((2 * ring_px + 1, 2 * ring_px + 1), np.uint8)) & (1 - m8)
    if not ring.any():
        return 1.0
    q = (image_rgb // 32).astype(np.int32)  # 8 levels per channel
    codes = q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]
    fg = np.bincount(codes[mask], minlength=512).astype(np.float64)
    bg = np.bincount(codes[ring.astype(bool)], minlength=512).astype(np.float64)
    return float(1.0 - np.minimum(fg / fg.sum(), bg / bg.sum()).sum())


def central_ellipse(size_hw: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """Bool ellipse at the box centre with half-axes 0.3 x width and 0.4 x height."""
    import cv2

    x1, y1, x2, y2 = box
    out = np.zeros(size_hw, np.uint8)
    centre = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
    axes = (max(1, int(0.3 * (x2 - x1))), max(1, int(0.4 * (y2 - y1))))
    cv2.ellipse(out, centre, axes, 0, 0, 360, 1, -1)
    return out.astype(bool)


def colour_codes(image_rgb: np.ndarray, bits: int = 4) -> np.ndarray:
    """``(H, W)`` int codes of RGB quantised to ``2 ** bits`` levels per channel (4096 colours at 4)."""
    q = (image_rgb >> (8 - bits)).astype(np.int32)
    return (q[..., 0] << (2 * bits)) | (q[..., 1] << bits) | q[..., 2]


def colour_hist(codes: np.ndarray, bits: int = 4) -> np.ndarray:
    """Normalised ``2 ** (3 * bits)``-bin histogram of :func:`colour_codes` (all zeros for no pixels)."""
    h = np.bincount(codes.ravel(), minlength=1 << (3 * bits)).astype(np.float64)
    return h / max(h.sum(), 1.0)


def smooth_hist(hist: np.ndarray, bits: int = 4) -> np.ndarray:
    """Blur a colour histogram over neighbouring colours (few samples, noisy pixels)."""
    from scipy.ndimage import uniform_filter

    n = 1 << bits
    h = uniform_filter(hist.reshape(n, n, n), size=3, mode="constant").ravel()
    return h / max(h.sum(), 1e-12)


def resolve_overlaps(res: dict[int, SegmentResult], boxes: dict[int, Sequence[float]]) -> None:
    """Split pixels claimed by several objects: each goes to the object whose box centre is nearer
    (in place, on ``res``'s masks)."""
    ids = list(res)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            both = res[a].mask & res[b].mask
            if not both.any():
                continue
            ys, xs = np.nonzero(both)
            ca = ((boxes[a][0] + boxes[a][2]) / 2, (boxes[a][1] + boxes[a][3]) / 2)
            cb = ((boxes[b][0] + boxes[b][2]) / 2, (boxes[b][1] + boxes[b][3]) / 2)
            to_a = (xs - ca[0]) ** 2 + (ys - ca[1]) ** 2 <= (xs - cb[0]) ** 2 + (ys - cb[1]) ** 2
            res[b].mask[ys[to_a], xs[to_a]] = False
            res[a].mask[ys[~to_a], xs[~to_a]] = False

