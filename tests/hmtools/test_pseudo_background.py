"""The background model of the classical segmenter: a panning camera aligned, a bounded sample."""

from __future__ import annotations

import numpy as np

from hmtools.pseudo.background import BackgroundModel

from helpers.pseudo_clips import panned_clip


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
