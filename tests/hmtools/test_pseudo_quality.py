"""Quality signals of pseudo masks and the review flag rule."""

from __future__ import annotations

import numpy as np
import pytest

from hmtools.pseudo.quality import QualityThresholds, frame_quality, mask_iou, review_flag, review_reasons
from hmtools.store import Quality


def square(y0, x0, side, size=8):
    m = np.zeros((size, size), bool)
    m[y0:y0 + side, x0:x0 + side] = True
    return m


def test_signals_of_a_mask():
    prev = square(2, 2, 2)               # area 4
    cur = square(2, 2, 3)                # area 9, contains prev
    q = frame_quality(cur, prev, score=0.9, stability=float("nan"), tracker_peak=0.5)
    assert q.iou_prev == pytest.approx(4 / 9)
    assert q.area_jump == pytest.approx(5 / 4)
    assert q.empty is False and q.border is False
    assert q.stability is None and q.score == 0.9 and q.tracker_peak == 0.5
    first = frame_quality(cur, None)
    assert first.iou_prev is None and first.area_jump is None
    empty = frame_quality(np.zeros((8, 8), bool), prev)
    assert empty.empty is True and empty.border is None and empty.iou_prev == 0.0
    assert frame_quality(square(0, 3, 2), None).border is True
    assert frame_quality(square(3, 6, 2), None).border is True    # right edge (exclusive x2 = 8)
    assert mask_iou(np.zeros((2, 2), bool), np.zeros((2, 2), bool)) == 1.0


@pytest.mark.parametrize("quality, reasons", [
    (Quality(score=0.95, stability=0.97, tracker_peak=0.8, iou_prev=0.9, area_jump=0.1, empty=False,
             border=False), ()),
    (Quality(empty=True), ("empty",)),
    (Quality(score=0.5), ("low_score",)),
    (Quality(stability=0.5), ("unstable",)),
    (Quality(tracker_peak=0.1), ("low_tracker_peak",)),
    (Quality(iou_prev=0.3), ("low_iou_prev",)),
    (Quality(area_jump=0.9), ("area_jump",)),
    (Quality(border=True), ("border",)),
    (Quality(score=0.1, iou_prev=0.1, border=True), ("low_score", "low_iou_prev", "border")),
])
def test_review_reasons(quality, reasons):
    t = QualityThresholds()
    assert review_reasons(quality, t) == reasons
    flag = review_flag(quality, t)
    assert flag.review == bool(reasons) and flag.reasons == reasons


def test_thresholds_validate_and_switch_border_off():
    assert review_reasons(Quality(border=True), QualityThresholds(flag_border=False)) == ()
    with pytest.raises(ValueError, match="min_iou_prev"):
        QualityThresholds(min_iou_prev=1.5)
