"""Per-frame quality signals of a pseudo mask and the review flag with its reasons.

Signals (stored in :class:`hmtools.store.Quality`): the segmenter's score (SAM predicted IoU, or the
classical segmenter's colour-separation score), SAM's stability score, the tracker's peak, the IoU
with the same object's mask in the previous frame, the relative area jump
``|a - a_prev| / max(a_prev, 1)``, whether the mask is empty, and whether the object's box touches
the image border. A frame is flagged for review when any signal crosses its threshold in
:class:`QualityThresholds`; the reasons name which ones, so a review queue can rank and explain.

Defaults follow what other tools use (SAM's automatic generator keeps predicted IoU >= 0.88 and
stability >= 0.95; Grounded-SAM-2 matches masks at IoU 0.8), loosened because a box prompt on a
fast athlete is harder than a static object: a frame is flagged, not dropped.

Example:
    >>> q = frame_quality(np.ones((4, 4), bool), None, score=0.95, stability=0.97, tracker_peak=0.8)
    >>> review_reasons(q, QualityThresholds())
    ('border',)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hmtools.pseudo.base import mask_box_xyxy
from hmtools.store import Flag, Quality


@dataclass(frozen=True)
class QualityThresholds:
    """When a pseudo mask is flagged for review (one place for every threshold).

    Attributes:
        min_score: segmenter score below this -> ``low_score``.
        min_stability: stability below this -> ``unstable``.
        min_tracker_peak: tracker peak below this -> ``low_tracker_peak``.
        min_iou_prev: IoU with the previous frame below this -> ``low_iou_prev``.
        max_area_jump: relative area change above this -> ``area_jump``.
        border_px: a box within this many pixels of the image edge -> ``border``.
        flag_border: whether touching the border is a reason at all.
    """

    min_score: float = 0.75
    min_stability: float = 0.85
    min_tracker_peak: float = 0.3
    min_iou_prev: float = 0.6
    max_area_jump: float = 0.5
    border_px: int = 1
    flag_border: bool = True

    def __post_init__(self):
        for name in ("min_stability", "min_tracker_peak", "min_iou_prev"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"QualityThresholds.{name} must be in [0, 1], got {v}")
        if self.max_area_jump < 0 or self.border_px < 0:
            raise ValueError("QualityThresholds.max_area_jump and border_px must be >= 0, got "
                             f"{self.max_area_jump}, {self.border_px}")


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two bool masks; 1.0 when both are empty."""
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def frame_quality(mask: np.ndarray, prev_mask: np.ndarray | None, *, score: float | None = None,
                  stability: float | None = None, tracker_peak: float | None = None,
                  border_px: int = 1) -> Quality:
    """All signals of one object's mask in one frame.

    Args:
        mask: ``(H, W)`` bool mask.
        prev_mask: the same object's mask in the previous frame, ``None`` on its first frame.
        score / stability / tracker_peak: backend signals; ``None`` or ``nan`` when not measured.
        border_px: distance to the edge that counts as touching it.
    """
    h, w = mask.shape
    area = int(np.count_nonzero(mask))
    box = mask_box_xyxy(mask)
    border = None
    if box is not None:
        x1, y1, x2, y2 = box
        border = bool(x1 <= border_px or y1 <= border_px or x2 >= w - border_px or y2 >= h - border_px)
    iou_prev = area_jump = None
    if prev_mask is not None:
        iou_prev = mask_iou(mask, prev_mask)
        prev_area = int(np.count_nonzero(prev_mask))
        area_jump = abs(area - prev_area) / max(prev_area, 1)
    return Quality(score=_finite(score), stability=_finite(stability),
                   tracker_peak=_finite(tracker_peak), iou_prev=iou_prev, area_jump=area_jump,
                   empty=area == 0, border=border)


def review_reasons(q: Quality, t: QualityThresholds) -> tuple[str, ...]:
    """The reasons (in a fixed order) why a person should look at this mask; empty if none."""
    checks = (
        ("empty", bool(q.empty)),
        ("low_score", q.score is not None and q.score < t.min_score),
        ("unstable", q.stability is not None and q.stability < t.min_stability),
        ("low_tracker_peak", q.tracker_peak is not None and q.tracker_peak < t.min_tracker_peak),
        ("low_iou_prev", q.iou_prev is not None and q.iou_prev < t.min_iou_prev),
        ("area_jump", q.area_jump is not None and q.area_jump > t.max_area_jump),
        ("border", t.flag_border and bool(q.border)),
    )
    return tuple(name for name, hit in checks if hit)


def review_flag(q: Quality, t: QualityThresholds) -> Flag:
    """:class:`hmtools.store.Flag` for ``q``: review when any reason applies."""
    reasons = review_reasons(q, t)
    return Flag(review=bool(reasons), reasons=reasons)
