"""The automatic person detector (``--detect hog``): OpenCV's HOG + linear SVM people detector.

It needs no model file but exists only in OpenCV 4.x (OpenCV 5.x dropped ``HOGDescriptor``); there
:func:`detect_people` raises :class:`DetectorUnavailable`, a per-video error that asks for prompts.
"""

from __future__ import annotations

import numpy as np

from hmtools.errors import HMError
from hmtools.pseudo.base import box_iou_xyxy, clip_xyxy


class DetectorUnavailable(HMError):
    """The automatic person detector cannot run with this OpenCV build."""


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


class HogDetector:
    """:func:`detect_people` as a :class:`~hmtools.pseudo.base.Detector` (``--detect hog``).

    Availability is checked on each call, so a missing detector fails videos one by one (each with
    a message asking for prompts) rather than the whole run.
    """

    name = "hog"

    def detect(self, frame_rgb: np.ndarray, max_people: int = 1
               ) -> list[tuple[tuple[float, float, float, float], float]]:
        return detect_people(frame_rgb, max_people=max_people)
