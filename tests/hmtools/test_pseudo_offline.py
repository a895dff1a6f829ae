"""Offline backends: background model, GrabCut segmenter, mask-propagation and OpenCV trackers."""

from __future__ import annotations

import numpy as np
import pytest

from hmtools.pseudo.background import BackgroundModel
from hmtools.pseudo.offline import (ClassicalParams, ClassicalSegmenter, MaskPropagationTracker,
                                    OpenCVTracker, box_iou_xyxy, colour_separation, pad_box)


def panned_clip(n=10, size_hw=(40, 60), pan_px=2, seed=0):
    """A textured panorama seen through a camera panning right, a blue block moving down."""
    rng = np.random.default_rng(seed)
    h, w = size_hw
    pano = rng.integers(0, 120, (h, w + n * pan_px, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(n):
        img = pano[:, t * pan_px:t * pan_px + w].copy()
        m = np.zeros((h, w), bool)
        m[5 + 2 * t:15 + 2 * t, 25:33] = True
        img[m] = (20, 40, 230)
        frames.append(img)
        masks.append(m)
    return frames, masks


def test_background_model_aligns_a_panning_camera():
    frames, masks = panned_clip()
    bg = BackgroundModel.estimate(frames)
    assert np.array_equal(bg.offsets_xy[:, 0], np.arange(10) * 2) and not bg.offsets_xy[:, 1].any()
    for t in (0, 5, 9):
        d = bg.difference(t, frames[t])
        assert d[~masks[t]].max() == 0            # the panorama is recovered exactly
        assert d[masks[t]].min() > 30             # the block differs from it
        fg = bg.foreground(t, frames[t])
        assert np.array_equal(fg, masks[t])
    assert bg.difference(3, frames[3], (20, 0, 40, 20)).shape == (20, 20)


def test_background_model_keeps_a_bounded_sample():
    frames = [np.full((4, 4, 3), t % 7, np.uint8) for t in range(100)]
    bg = BackgroundModel.estimate(iter(frames), max_samples=8)
    assert bg.offsets_xy.shape == (100, 2) and bg.median.shape == (4, 4, 3)


@pytest.mark.parametrize("use_background", [True, False])
def test_classical_segmenter_follows_a_block(use_background):
    frames, masks = panned_clip()
    seg = ClassicalSegmenter(ClassicalParams(use_background=use_background))
    seg.reset()
    if seg.wants_background:
        seg.prepare(frames)
    tracker = MaskPropagationTracker()
    tracker.start(frames[0], 1, (25, 5, 33, 15))
    ious = []
    for t, f in enumerate(frames):
        box = (25, 5, 33, 15) if t == 0 else tracker.step(f)[1].box_xyxy
        res = seg.segment([f], [{1: box}], [t])[0][1]
        ys, xs = np.nonzero(res.mask)
        if len(xs):
            tracker.correct(1, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1))
        ious.append(np.count_nonzero(res.mask & masks[t]) / np.count_nonzero(res.mask | masks[t]))
        assert 0.0 <= res.score <= 1.0
    assert min(ious) > (0.9 if use_background else 0.6), ious


def test_segmenter_returns_nothing_for_an_empty_box():
    seg = ClassicalSegmenter()
    res = seg.segment([np.zeros((10, 10, 3), np.uint8)], [{1: (3, 3, 4, 4)}])[0][1]
    assert not res.mask.any() and res.score == 0.0


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


def test_colour_separation():
    img = np.zeros((20, 20, 3), np.uint8)
    img[5:15, 5:15] = 255
    m = np.zeros((20, 20), bool)
    m[5:15, 5:15] = True
    assert colour_separation(img, m) == pytest.approx(1.0)
    assert colour_separation(np.zeros_like(img), m) == pytest.approx(0.0)
    assert colour_separation(img, np.zeros_like(m)) == 0.0
