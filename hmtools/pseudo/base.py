"""Typed records and interfaces shared by the trackers and segmenters.

A tracker follows several objects at once (synchronized diving has two athletes): objects start (or
restart) with :meth:`Tracker.start` on the frame of their prompt and every later frame goes through
one :meth:`Tracker.step`. A segmenter turns boxes into masks for a batch of frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np


@dataclass(frozen=True)
class TrackedBox:
    """A tracker's box for one object in one frame.

    Attributes:
        box_xyxy: ``(x1, y1, x2, y2)`` in pixels, inside the frame.
        peak: tracker confidence (OSTrack's score-map peak in [0, 1]); ``nan`` when the tracker
            has none, ``0.0`` when it lost the object.
    """

    box_xyxy: tuple[float, float, float, float]
    peak: float = math.nan

    def __post_init__(self):
        x1, y1, x2, y2 = self.box_xyxy
        if not (x2 >= x1 and y2 >= y1):
            raise ValueError(f"box_xyxy must have x2 >= x1 and y2 >= y1, got {self.box_xyxy}")


@dataclass
class SegmentResult:
    """A segmenter's mask for one object in one frame.

    Attributes:
        mask: ``(H, W)`` bool mask (dense only while the frame is at hand).
        score: the segmenter's own quality estimate (SAM predicted IoU; unbounded), ``nan`` if none.
        stability: IoU of the mask thresholded at logit +1 and -1 (SAM), ``nan`` if none.
    """

    mask: np.ndarray
    score: float = math.nan
    stability: float = math.nan


class Tracker(Protocol):
    """Proposes one box per active object per frame."""

    name: str

    def start(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> None:
        """(Re)start following ``obj_id`` from ``box_xyxy`` on this frame."""

    def step(self, frame_rgb: np.ndarray) -> dict[int, TrackedBox]:
        """Boxes of every started object on the next frame."""

    def correct(self, obj_id: int, box_xyxy: Sequence[float]) -> None:
        """Feedback from the segmenter: the mask's box on the frame just tracked."""


class Segmenter(Protocol):
    """Turns boxes into masks; ``needs_sequential`` segmenters see one frame at a time.

    A segmenter with ``wants_background = True`` also has ``prepare(frames_rgb)``, which the
    pipeline calls with every frame of a video (a first pass) before segmenting it.
    """

    name: str
    needs_sequential: bool

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]],
                frame_indices: Sequence[int] | None = None) -> list[dict[int, SegmentResult]]:
        """Masks for ``boxes[i]`` (object id -> xyxy) on ``frames_rgb[i]``, frame
        ``frame_indices[i]`` of the video."""


def clip_xyxy(box_xyxy: Sequence[float], size_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """Clip a box to the frame ``(H, W)``."""
    h, w = size_hw
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    x1, x2 = min(max(x1, 0.0), w), min(max(x2, 0.0), w)
    y1, y2 = min(max(y1, 0.0), h), min(max(y2, 0.0), h)
    return x1, y1, max(x1, x2), max(y1, y2)


def mask_box_xyxy(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Tight box of a bool mask (exclusive right/bottom edge), ``None`` when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)
