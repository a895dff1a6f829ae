"""The weight-free trackers: mask propagation and OpenCV MIL."""

from __future__ import annotations

import numpy as np
import pytest

from hmtools.pseudo.base import box_iou_xyxy, pad_box
from hmtools.pseudo.trackers import MaskPropagationTracker, OpenCVTracker


def test_propagation_tracker_pads_and_does_not_collapse():
    t = MaskPropagationTracker(momentum=0.0, pad=0.1, min_area=0.7)
    img = np.zeros((100, 100, 3), np.uint8)
    t.start(img, 1, (40, 40, 60, 60))
    t.correct(1, (40, 40, 45, 60))  # the mask lost most of the object
    x1, y1, x2, y2 = t.step(img)[1].box_xyxy
    assert (x2 - x1) * (y2 - y1) == pytest.approx(0.7 * 400, rel=0.01)


def test_opencv_tracker_restarts_from_the_mask_box_but_not_a_tiny_one():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    tr = OpenCVTracker()
    tr.start(img, 1, (10, 10, 30, 40))
    out = tr.step(img)
    assert out[1].peak in (0.0, 1.0)
    tr.correct(1, (50, 20, 70, 50))
    assert box_iou_xyxy(tr.boxes[1], pad_box((50, 20, 70, 50), 0.1, (60, 80))) > 0.99
    before = tr.boxes[1]
    tr.correct(1, (5, 5, 7, 6))  # MIL cannot start from a 2x1 box: ignored
    assert tr.boxes[1] == before


def test_old_import_path_still_works():
    from hmtools.pseudo import offline, trackers

    assert offline.OpenCVTracker is trackers.OpenCVTracker and offline.box_iou_xyxy is box_iou_xyxy


def test_opencv_tracker_boxes_do_not_depend_on_earlier_trackers():
    """MIL samples with the C library's rand(); each tracker reseeds it, so a video tracked after
    others (a resumed or sharded run) gets the boxes a fresh process gets."""
    from helpers.pseudo_clips import panned_clip

    frames, _ = panned_clip(n=6)

    def track() -> list:
        tr = OpenCVTracker()
        tr.start(frames[0], 1, (25, 5, 33, 15))
        return [tr.step(f)[1].box_xyxy for f in frames[1:]]

    first = track()
    assert all(track() == first for _ in range(3))
