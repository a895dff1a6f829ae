"""The classical (GrabCut) segmenter and its pixel operations."""

from __future__ import annotations

import numpy as np
import pytest

from hmtools.pseudo.base import Segmenter
from hmtools.pseudo.classical import ClassicalParams, ClassicalSegmenter
from hmtools.pseudo.classical_ops import colour_separation
from hmtools.pseudo.trackers import MaskPropagationTracker

from helpers.pseudo_clips import panned_clip


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


def test_colour_separation():
    img = np.zeros((20, 20, 3), np.uint8)
    img[5:15, 5:15] = 255
    m = np.zeros((20, 20), bool)
    m[5:15, 5:15] = True
    assert colour_separation(img, m) == pytest.approx(1.0)
    assert colour_separation(np.zeros_like(img), m) == pytest.approx(0.0)
    assert colour_separation(img, np.zeros_like(m)) == 0.0


def test_classical_segmenter_declares_its_hooks():
    seg = ClassicalSegmenter(ClassicalParams(use_background=False))
    assert isinstance(seg, Segmenter) and seg.needs_sequential and not seg.wants_background
    assert ClassicalSegmenter().wants_background  # use_background is on by default


@pytest.mark.parametrize("rgb, bits, code", [
    ((200, 150, 120), 4, (12 << 8) | (9 << 4) | 7),
    ((192, 144, 115), 4, (12 << 8) | (9 << 4) | 7),     # 0.96 of the colour above: the same bin
    ((200, 150, 120), 5, (25 << 10) | (18 << 5) | 15),
    ((192, 144, 115), 5, (24 << 10) | (18 << 5) | 14),  # ... but not at 32 levels
    ((255, 255, 255), 2, 63),
])
def test_colour_codes_and_histograms(rgb, bits, code):
    from hmtools.pseudo.classical_ops import colour_codes, colour_hist, smooth_hist

    img = np.array([[rgb]], np.uint8)
    assert colour_codes(img, bits)[0, 0] == code
    h = smooth_hist(colour_hist(colour_codes(img, bits), bits), bits)
    assert h.shape == (1 << 3 * bits,) and abs(h.sum() - 1) < 1e-9 and h[code] == h.max() > 0
