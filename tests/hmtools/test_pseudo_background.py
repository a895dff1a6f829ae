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


def test_a_screen_locked_overlay_is_found_while_the_camera_pans():
    frames, masks = panned_clip(n=24)  # one sample in 24 may differ (STATIC_SHARE)
    for f in frames:
        f[0:8, 40:58] = (20, 40, 230)  # a scoreboard in the block's colour, fixed on the screen
    frames[3][2:6, 44:50] = (250, 250, 250)  # something passes in front of it once
    bg = BackgroundModel.estimate(frames)
    assert bg.screen_static[0:8, 40:58].all()
    assert not bg.screen_static[20:, :20].any()         # the panned texture moves on the screen
    assert not bg.screen_static[masks[4]].all()          # so does the block
    assert bg.overlay(frames[0])[0:8, 40:58].all()
    over = bg.overlay(frames[3], (40, 0, 58, 8))
    assert over.shape == (8, 18) and not over[2:6, 4:10].any() and over[6:].all()


def test_too_few_samples_find_no_overlay():
    frames, _ = panned_clip(n=5)
    bg = BackgroundModel.estimate(frames)
    assert bg.screen_static is None and not bg.overlay(frames[0]).any()


def test_background_model_follows_a_camera_speeding_up():
    """A tilt that speeds up by a pixel a frame over a blurred texture (a camera following a dive
    over out-of-focus stands), with sensor noise: the offsets are the crop's, exactly."""
    import cv2

    rng = np.random.default_rng(1)
    h, w, n = 40, 60, 16
    speed = np.minimum(np.arange(n), 6)  # 0, 1, ..., 6, 6, ... px a frame
    oy = np.concatenate([[0], np.cumsum(speed[1:])])
    pano = cv2.GaussianBlur(rng.integers(0, 255, (h + int(oy[-1]) + 1, w, 3), dtype=np.uint8), (7, 7), 2)
    frames = [np.clip(pano[y:y + h].astype(np.int16) + rng.integers(-3, 4, (h, w, 3)), 0, 255).astype(np.uint8)
              for y in oy]
    bg = BackgroundModel.estimate(frames)
    assert np.array_equal(bg.offsets_xy[:, 1], oy) and not bg.offsets_xy[:, 0].any()
