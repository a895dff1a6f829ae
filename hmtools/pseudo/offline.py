"""Backends that need no model weights: OpenCV tracking, GrabCut segmentation, HOG people detection.

* :class:`OpenCVTracker` follows each object with ``cv2.TrackerMIL`` (the one tracker of the main
  opencv-python wheel that needs no model file). MIL keeps the initial box size, so the pipeline
  feeds the segmented mask's box back (:meth:`OpenCVTracker.correct`) and the tracker restarts from
  it when the two disagree.
* :class:`MaskPropagationTracker` (``--tracker none``) proposes the previous mask's box moved by the
  object's recent velocity.
* :class:`ClassicalSegmenter` runs ``cv2.grabCut`` on a region around the box, seeded from the box
  and, when there is one, from the object's previous mask moved with the box (a shape prior), then
  keeps the connected component under the box and fills holes. Its score is the colour separation
  between the mask and a ring around it: ``1 - histogram intersection`` in [0, 1].
* :func:`detect_people` uses OpenCV's HOG people detector (OpenCV 4.x; absent from 5.x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hmtools.errors import HMError
from hmtools.pseudo.base import SegmentResult, TrackedBox, clip_xyxy, mask_box_xyxy


class DetectorUnavailable(HMError):
    """The automatic person detector cannot run with this OpenCV build."""


def box_iou_xyxy(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``xyxy`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# -- trackers ----------------------------------------------------------------------------------

class OpenCVTracker:
    """``cv2.TrackerMIL`` per object, restarted from the mask's box when they disagree.

    Args:
        restart_iou: restart an object's tracker when the mask's box has IoU below this with the
            tracker's box.

    The peak is 1.0 while MIL reports the object found and 0.0 when it reports it lost (MIL exposes
    no score).
    """

    name = "opencv"

    def __init__(self, restart_iou: float = 0.6):
        import cv2

        if not hasattr(cv2, "TrackerMIL_create"):
            raise HMError("this OpenCV build has no TrackerMIL; use --tracker none")
        self._create = cv2.TrackerMIL_create
        self.restart_iou = restart_iou
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
        if box_iou_xyxy(self.boxes[obj_id], box_xyxy) < self.restart_iou:
            self._init(self._frame_bgr, obj_id, box_xyxy)


class MaskPropagationTracker:
    """``--tracker none``: the previous mask's box, moved by the object's smoothed velocity."""

    name = "none"

    def __init__(self, momentum: float = 0.5):
        self.momentum = momentum
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
        self.boxes[obj_id] = tuple(float(v) for v in box_xyxy)


# -- segmenter ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClassicalParams:
    """Settings of :class:`ClassicalSegmenter`.

    Attributes:
        margin: the region GrabCut sees is the box grown by this fraction of its size per side.
        max_side_px: the region is downscaled so its longer side is at most this (speed).
        iterations: GrabCut iterations.
        use_prior: seed GrabCut with the previous mask (moved with the box) when there is one.
    """

    margin: float = 0.3
    max_side_px: int = 128
    iterations: int = 3
    use_prior: bool = True

    def __post_init__(self):
        if self.margin < 0 or self.max_side_px < 16 or self.iterations < 1:
            raise ValueError(f"ClassicalParams out of range: {self}")


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    import cv2

    h, w = mask.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = mask
    cv2.floodFill(flood, None, (0, 0), 1)  # background reachable from the border
    return mask | (flood[1:-1, 1:-1] == 0)


def _component_under_box(mask: np.ndarray, box_local: tuple[int, int, int, int]) -> np.ndarray:
    """Keep the connected components that overlap the box's central third, else the largest."""
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    x1, y1, x2, y2 = box_local
    cx1, cx2 = x1 + (x2 - x1) // 3, x2 - (x2 - x1) // 3
    cy1, cy2 = y1 + (y2 - y1) // 3, y2 - (y2 - y1) // 3
    central = np.unique(labels[cy1:max(cy2, cy1 + 1), cx1:max(cx2, cx1 + 1)])
    central = [c for c in central if c != 0]
    if not central:
        central = [1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
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


class ClassicalSegmenter:
    """Box-initialised GrabCut with an optional previous-mask prior (CPU, sequential)."""

    name = "classical"
    needs_sequential = True
    batch_size = 1

    def __init__(self, params: ClassicalParams = ClassicalParams()):
        self.params = params
        self.prev: dict[int, tuple[np.ndarray, tuple[float, float, float, float]]] = {}

    def reset(self) -> None:
        """Forget the previous masks (call between videos)."""
        self.prev.clear()

    def forget(self, obj_id: int) -> None:
        self.prev.pop(obj_id, None)

    def segment_one(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> SegmentResult:
        import cv2

        p = self.params
        h, w = frame_rgb.shape[:2]
        x1, y1, x2, y2 = clip_xyxy(box_xyxy, (h, w))
        bw, bh = x2 - x1, y2 - y1
        if bw < 2 or bh < 2:
            return SegmentResult(np.zeros((h, w), bool), 0.0)
        mx, my = max(4.0, p.margin * bw), max(4.0, p.margin * bh)
        rx1, ry1 = int(max(0, math.floor(x1 - mx))), int(max(0, math.floor(y1 - my)))
        rx2, ry2 = int(min(w, math.ceil(x2 + mx))), int(min(h, math.ceil(y2 + my)))
        roi = frame_rgb[ry1:ry2, rx1:rx2]
        scale = min(1.0, p.max_side_px / max(roi.shape[:2]))
        small = cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else roi
        sh, sw = small.shape[:2]
        bx1 = int(np.clip(round((x1 - rx1) * scale), 0, sw - 1))
        by1 = int(np.clip(round((y1 - ry1) * scale), 0, sh - 1))
        bx2 = int(np.clip(round((x2 - rx1) * scale), bx1 + 1, sw))
        by2 = int(np.clip(round((y2 - ry1) * scale), by1 + 1, sh))

        # Tracker boxes are approximate: only the region's rim is certain background, the margin
        # is probably background, the box probably foreground.
        seed = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        rim = max(1, min(sh, sw) // 32)
        seed[:rim], seed[-rim:], seed[:, :rim], seed[:, -rim:] = (cv2.GC_BGD,) * 4
        seed[by1:by2, bx1:bx2] = cv2.GC_PR_FGD
        prior = self.prev.get(obj_id) if p.use_prior else None
        if prior is not None:
            prior_small = self._moved_prior(prior, (x1, y1, x2, y2), (rx1, ry1, rx2, ry2), (sh, sw))
            if prior_small is not None and prior_small[by1:by2, bx1:bx2].any():
                inside = seed == cv2.GC_PR_FGD
                seed[inside] = cv2.GC_PR_BGD
                seed[inside & prior_small] = cv2.GC_PR_FGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        small_bgr = np.ascontiguousarray(small[..., ::-1])
        try:
            cv2.grabCut(small_bgr, seed, None, bgd, fgd, p.iterations, cv2.GC_INIT_WITH_MASK)
        except cv2.error:  # a region GrabCut cannot model (e.g. one colour): fall back to the box
            seed[by1:by2, bx1:bx2] = cv2.GC_PR_FGD
        fg_small = ((seed == cv2.GC_FGD) | (seed == cv2.GC_PR_FGD)).astype(np.uint8)
        if scale < 1:
            fg_roi = cv2.resize(fg_small * 255, (rx2 - rx1, ry2 - ry1), interpolation=cv2.INTER_LINEAR) > 127
        else:
            fg_roi = fg_small.astype(bool)
        box_local = (int(x1 - rx1), int(y1 - ry1), int(math.ceil(x2 - rx1)), int(math.ceil(y2 - ry1)))
        fg_roi = _fill_holes(_component_under_box(fg_roi, box_local))
        mask = np.zeros((h, w), bool)
        mask[ry1:ry2, rx1:rx2] = fg_roi
        score = colour_separation(roi, fg_roi)
        if mask.any():
            self.prev[obj_id] = (mask[ry1:ry2, rx1:rx2].copy(), (rx1, ry1, rx2, ry2), (x1, y1, x2, y2))
        return SegmentResult(mask=mask, score=score)

    def _moved_prior(self, prior, box, roi, size_small) -> np.ndarray | None:
        """The previous mask, translated and scaled from its box to ``box``, in the small ROI frame."""
        import cv2

        prev_roi_mask, (px1, py1, _, _), (ox1, oy1, ox2, oy2) = prior
        x1, y1, x2, y2 = box
        rx1, ry1, rx2, ry2 = roi
        sx = (x2 - x1) / max(ox2 - ox1, 1e-6)
        sy = (y2 - y1) / max(oy2 - oy1, 1e-6)
        sh, sw = size_small
        kx, ky = sw / (rx2 - rx1), sh / (ry2 - ry1)
        # old mask pixel i sits at frame x = px1 + i; moved: x1 + (x - ox1) * sx; small: (. - rx1) * kx
        mat = np.float32([[sx * kx, 0, (x1 + (px1 - ox1) * sx - rx1) * kx],
                          [0, sy * ky, (y1 + (py1 - oy1) * sy - ry1) * ky]])
        moved = cv2.warpAffine(prev_roi_mask.astype(np.uint8) * 255, mat, (sw, sh),
                               flags=cv2.INTER_LINEAR, borderValue=0)
        return moved > 127

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]]
                ) -> list[dict[int, SegmentResult]]:
        """Masks per frame and object; overlapping objects keep the pixels nearer their box centre."""
        out = []
        for frame, frame_boxes in zip(frames_rgb, boxes):
            res = {obj_id: self.segment_one(frame, obj_id, b) for obj_id, b in frame_boxes.items()}
            if len(res) > 1:
                _resolve_overlaps(res, frame_boxes)
            out.append(res)
        return out


def _resolve_overlaps(res: dict[int, SegmentResult], boxes: dict[int, Sequence[float]]) -> None:
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


# -- detection ---------------------------------------------------------------------------------

def _nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> list[int]:
    order = list(np.argsort(-scores))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if box_iou_xyxy(boxes[i], boxes[j]) < iou_thr]
    return keep


def detect_people(frame_rgb: np.ndarray, max_people: int = 1, min_height_px: int = 256,
                  shrink: float = 0.1) -> list[tuple[tuple[float, float, float, float], float]]:
    """People boxes on one frame with OpenCV's HOG + linear SVM detector, best first.

    Args:
        frame_rgb: ``(H, W, 3)`` uint8.
        max_people: how many boxes to return at most.
        min_height_px: frames lower than this are upscaled first (HOG's window is 64x128 px).
        shrink: HOG boxes carry a margin around the person; each side is pulled in by this
            fraction of the box size.

    Returns:
        ``[(box_xyxy, weight), ...]`` in frame pixels.

    Raises:
        DetectorUnavailable: this OpenCV has no HOG people detector (OpenCV 5.x).
    """
    import cv2

    if not hasattr(cv2, "HOGDescriptor") or not hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
        raise DetectorUnavailable(
            f"OpenCV {cv2.__version__} has no HOG people detector; give start boxes with --prompts FILE")
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    h = frame_rgb.shape[0]
    up = max(1.0, min_height_px / h)
    img = frame_rgb[..., ::-1]
    if up > 1:
        img = cv2.resize(img, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
    rects, weights = hog.detectMultiScale(np.ascontiguousarray(img), winStride=(8, 8),
                                          padding=(8, 8), scale=1.05)
    if len(rects) == 0:
        return []
    rects = np.asarray(rects, np.float64) / up
    boxes = np.stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]], 1)
    scores = np.asarray(weights, np.float64).reshape(-1)
    out = []
    for i in _nms(boxes, scores, 0.3)[:max_people]:
        x1, y1, x2, y2 = boxes[i]
        dx, dy = shrink * (x2 - x1), shrink * (y2 - y1) / 2
        box = clip_xyxy((x1 + dx, y1 + dy, x2 - dx, y2 - dy), frame_rgb.shape[:2])
        out.append((box, float(scores[i])))
    return out
