"""Trackers that need no model weights (OSTrack, which loads weights, lives in ``ostrack/``).

* :class:`OpenCVTracker` (``--tracker opencv``) follows each object with ``cv2.TrackerMIL`` (the one
  tracker of the main opencv-python wheel that needs no model file). MIL keeps the initial box size,
  so the pipeline feeds the segmented mask's box back (:meth:`OpenCVTracker.correct`) and the
  tracker restarts from it when the two disagree.
* :class:`MaskPropagationTracker` (``--tracker none``) proposes the previous mask's box moved by the
  object's recent velocity.

Both take each mask's box back before the next frame (``needs_mask_feedback``), so the pipeline
segments their videos frame by frame. MIL draws random samples from the C library's ``rand()``;
each :class:`OpenCVTracker` reseeds it, so a video's boxes do not depend on the videos this process
tracked before (resumed and sharded runs agree with one-shot runs).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from hmtools.errors import HMError
from hmtools.pseudo.base import TrackedBox, box_iou_xyxy, clip_xyxy, pad_box


def reseed_c_rand(seed: int = 1) -> None:
    """Reseed the C library's ``rand()``, which ``cv2.TrackerMIL`` samples with and
    ``cv2.setRNGSeed`` does not reach. ``1`` is the C default, so every video's boxes equal a fresh
    process's. A no-op where the C library cannot be reached (Windows)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):
        return
    srand = getattr(libc, "srand", None)
    if srand is not None:
        srand(seed)

class OpenCVTracker:
    """``cv2.TrackerMIL`` per object, restarted from the mask's box when they disagree.

    Args:
        restart_iou: restart an object's tracker when the mask's box (padded by ``pad`` of its
            size per side) has IoU below this with the tracker's box.
        min_side_px: never restart from a box smaller than this (MIL cannot sample it).

    The peak is 1.0 while MIL reports the object found and 0.0 when it reports it lost (MIL exposes
    no score).
    """

    name = "opencv"
    needs_mask_feedback = True

    def __init__(self, restart_iou: float = 0.5, pad: float = 0.1, min_side_px: int = 8):
        import cv2

        if not hasattr(cv2, "TrackerMIL_create"):
            raise HMError("this OpenCV build has no TrackerMIL; use --tracker none")
        self._create = cv2.TrackerMIL_create
        reseed_c_rand()  # one tracker per video: its boxes must not depend on earlier videos
        self.restart_iou, self.pad, self.min_side_px = restart_iou, pad, min_side_px
        self.trackers: dict[int, object] = {}
        self.boxes: dict[int, tuple[float, float, float, float]] = {}
        self._frame_bgr: np.ndarray | None = None
        self._size_hw = (0, 0)

    def _init(self, frame_bgr: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> None:
        x1, y1, x2, y2 = clip_xyxy(box_xyxy, frame_bgr.shape[:2])
        w, h = max(2, round(x2 - x1)), max(2, round(y2 - y1))
        tr = self._create()
        tr.init(frame_bgr, (int(round(x1)), int(round(y1)), int(w), int(h)))
        self.trackers[obj_id] = tr
        self.boxes[obj_id] = (x1, y1, x2, y2)

    def start(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> None:
        self._frame_bgr = np.ascontiguousarray(frame_rgb[..., ::-1])
        self._size_hw = frame_rgb.shape[:2]
        self._init(self._frame_bgr, obj_id, box_xyxy)

    def step(self, frame_rgb: np.ndarray) -> dict[int, TrackedBox]:
        self._frame_bgr = np.ascontiguousarray(frame_rgb[..., ::-1])
        self._size_hw = frame_rgb.shape[:2]
        out = {}
        for obj_id, tr in self.trackers.items():
            ok, (x, y, w, h) = tr.update(self._frame_bgr)
            if ok:
                self.boxes[obj_id] = clip_xyxy((x, y, x + w, y + h), self._size_hw)
            out[obj_id] = TrackedBox(self.boxes[obj_id], 1.0 if ok else 0.0)
        return out

    def correct(self, obj_id: int, box_xyxy: Sequence[float]) -> None:
        if obj_id not in self.trackers or self._frame_bgr is None:
            return
        box = pad_box(box_xyxy, self.pad, self._size_hw)
        too_small = box[2] - box[0] < self.min_side_px or box[3] - box[1] < self.min_side_px
        if not too_small and box_iou_xyxy(self.boxes[obj_id], box) < self.restart_iou:
            self._init(self._frame_bgr, obj_id, box)


class MaskPropagationTracker:
    """``--tracker none``: the previous mask's box (padded by ``pad`` per side, and at least
    ``min_area`` of the previous box's area) moved by the object's smoothed velocity, so a mask
    that lost a limb does not shrink the next box."""

    name = "none"
    needs_mask_feedback = True

    def __init__(self, momentum: float = 0.5, pad: float = 0.1, min_area: float = 0.7):
        self.momentum, self.pad, self.min_area = momentum, pad, min_area
        self.boxes: dict[int, tuple[float, float, float, float]] = {}
        self.velocity: dict[int, tuple[float, float]] = {}
        self._size_hw = (0, 0)

    def start(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> None:
        self._size_hw = frame_rgb.shape[:2]
        self.boxes[obj_id] = clip_xyxy(box_xyxy, self._size_hw)
        self.velocity[obj_id] = (0.0, 0.0)

    def step(self, frame_rgb: np.ndarray) -> dict[int, TrackedBox]:
        self._size_hw = frame_rgb.shape[:2]
        out = {}
        for obj_id, (x1, y1, x2, y2) in self.boxes.items():
            vx, vy = self.velocity[obj_id]
            out[obj_id] = TrackedBox(clip_xyxy((x1 + vx, y1 + vy, x2 + vx, y2 + vy), self._size_hw))
        return out

    def correct(self, obj_id: int, box_xyxy: Sequence[float]) -> None:
        if obj_id not in self.boxes:
            return
        old = self.boxes[obj_id]
        dx = (box_xyxy[0] + box_xyxy[2] - old[0] - old[2]) / 2
        dy = (box_xyxy[1] + box_xyxy[3] - old[1] - old[3]) / 2
        vx, vy = self.velocity[obj_id]
        m = self.momentum
        self.velocity[obj_id] = (m * vx + (1 - m) * dx, m * vy + (1 - m) * dy)
        x1, y1, x2, y2 = pad_box(box_xyxy, self.pad, self._size_hw)
        # A mask that lost a limb must not shrink the next box much: keep min_area of the old area.
        ratio = (x2 - x1) * (y2 - y1) / max((old[2] - old[0]) * (old[3] - old[1]), 1e-6)
        if ratio < self.min_area:
            k = (math.sqrt(self.min_area / max(ratio, 1e-6)) - 1) / 2
            x1, y1, x2, y2 = pad_box((x1, y1, x2, y2), k, self._size_hw)
        self.boxes[obj_id] = (x1, y1, x2, y2)

