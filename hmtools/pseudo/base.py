"""Typed records, backend interfaces and box helpers shared by the trackers, segmenters and detectors.

A tracker follows several objects at once (synchronized diving has two athletes): objects start (or
restart) with :meth:`Tracker.start` on the frame of their prompt and every later frame goes through
one :meth:`Tracker.step`. A segmenter turns boxes into masks for a batch of frames; every hook the
pipeline calls is declared on :class:`Segmenter` with a no-op default, so a segmenter overrides only
what it needs. A detector finds start boxes where there are no prompts.

The backends themselves are picked by name from the registries in :mod:`hmtools.pseudo.backends`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

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
    """Proposes one box per active object per frame.

    Attributes:
        name: the registry name (``hmtools.pseudo.backends.TRACKERS``).
        needs_mask_feedback: the next box depends on this frame's mask (:meth:`correct`), so frames
            must be segmented one at a time; ``False`` lets the pipeline batch the segmenter.
    """

    name: str
    needs_mask_feedback: bool

    def start(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> None:
        """(Re)start following ``obj_id`` from ``box_xyxy`` on this frame."""

    def step(self, frame_rgb: np.ndarray) -> dict[int, TrackedBox]:
        """Boxes of every started object on the next frame."""

    def correct(self, obj_id: int, box_xyxy: Sequence[float]) -> None:
        """Feedback from the segmenter: the mask's box on the frame just tracked."""


class Segmenter:
    """Turns boxes into masks. Subclasses implement :meth:`segment`; every other hook the pipeline
    calls has a default here.

    Attributes:
        name: the registry name (``hmtools.pseudo.backends.SEGMENTERS``).
        needs_sequential: sees one frame at a time (it keeps state from frame to frame).
        batch_size: frames per :meth:`segment` call when the tracker allows batching.
        wants_background: the pipeline calls :meth:`prepare` with every frame of a video (a first
            decoding pass) before segmenting it.
    """

    name: str = ""
    needs_sequential: bool = True
    batch_size: int = 1
    wants_background: bool = False

    def reset(self) -> None:
        """Forget everything about the previous video (called before each video)."""

    def forget(self, obj_id: int) -> None:
        """Forget one object (called when it starts or restarts from a new box)."""

    def prepare(self, frames_rgb: Iterable[np.ndarray]) -> None:
        """See every frame of the video first (only called when ``wants_background``)."""

    def seed(self, obj_id: int, frame_rgb: np.ndarray, mask: np.ndarray, frame_idx: int | None = None) -> None:
        """Start ``obj_id`` from a known mask (a corrected frame) on this frame, as if it had
        segmented it; re-propagation calls it before the next frames. Default: nothing to learn
        (a segmenter without memory is seeded through the tracker's box alone)."""

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]],
                frame_indices: Sequence[int] | None = None) -> list[dict[int, SegmentResult]]:
        """Masks for ``boxes[i]`` (object id -> xyxy) on ``frames_rgb[i]``, frame
        ``frame_indices[i]`` of the video."""
        raise NotImplementedError(f"{type(self).__name__} must implement segment()")


class Detector(Protocol):
    """Finds people on a frame (start boxes for videos without prompts)."""

    name: str

    def detect(self, frame_rgb: np.ndarray, max_people: int = 1
               ) -> list[tuple[tuple[float, float, float, float], float]]:
        """``[(box_xyxy, weight), ...]`` best first, at most ``max_people``."""


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


def box_iou_xyxy(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``xyxy`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pad_box(box_xyxy: Sequence[float], pad: float, size_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    """Grow a box by ``pad`` of its width/height on each side, clipped to the frame."""
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    dx, dy = pad * (x2 - x1), pad * (y2 - y1)
    return clip_xyxy((x1 - dx, y1 - dy, x2 + dx, y2 + dy), size_hw)
