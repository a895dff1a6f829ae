"""The mask-seeded segmenter (hmtools.pseudo.seeded)."""

from __future__ import annotations

import numpy as np
import pytest

from hmtools.pseudo.backends import Backends
from hmtools.pseudo.base import mask_box_xyxy
from hmtools.pseudo.classical import ClassicalSegmenter
from hmtools.pseudo.classical_ops import colour_codes
from hmtools.pseudo.seeded import SeededParams, SeededSegmenter
from hmtools.pseudo.settings import PseudoMaskSettings
from hmtools.pseudo.trackers import MaskPropagationTracker


def _iou(a, b):
    u = np.count_nonzero(a | b)
    return 1.0 if u == 0 else np.count_nonzero(a & b) / u


@pytest.fixture(scope="module")
def synth_clip(tmp_path_factory):
    """One synthetic clip (seed 3): frames (RGB) and athlete 1's exact masks, and its sample."""
    import cv2

    from hmtools.datasets import open_dataset
    from hmtools.pseudo.synth_eval import INSTANCES_DIR, _read_png, _truth_path
    from hmtools.synth import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, n_videos=1, seed=3, progress=False, preview=False)
    (s,) = open_dataset("synthetic", root).samples()
    frames = [cv2.imread(str(p))[..., ::-1].copy() for p in s.frame_paths]
    truth = [_read_png(_truth_path(root, s, n, INSTANCES_DIR)) == 1 for n in s.frame_names]
    return frames, truth, s


def _iou_after(seg, frames, truth, anchor: int, steps: int) -> float:
    """Seed ``seg`` with the exact mask on ``anchor`` and follow it ``steps`` frames as
    re-propagation does (the mask-propagation tracker, its box fed back); IoU on the last frame."""
    seg.reset()
    if seg.wants_background:
        seg.prepare(frames)
    tracker = MaskPropagationTracker()
    box = mask_box_xyxy(truth[anchor])
    tracker.start(frames[anchor], 1, box)
    tracker.correct(1, box)
    seg.seed(1, frames[anchor], truth[anchor], anchor)
    for j in range(anchor + 1, anchor + steps + 1):
        tb = tracker.step(frames[j])[1]
        mask = seg.segment([frames[j]], [{1: tb.box_xyxy}], [j])[0][1].mask
        if mask.any():
            tracker.correct(1, mask_box_xyxy(mask))
    return _iou(mask, truth[anchor + steps])


# Measured on this clip (seed 3, anchors every 10th frame of the take-off and flight): the seeded
# segmenter keeps mean IoU 0.85 ten frames after an exact mask, the GrabCut segmenter 0.66 (0.19
# before the background model followed the camera: phaseCorrelate windowed its inputs in place).
@pytest.mark.parametrize("segmenter, floor", [(SeededSegmenter, 0.75), (ClassicalSegmenter, None)])
def test_an_exact_mask_survives_ten_frames(synth_clip, segmenter, floor):
    frames, truth, sample = synth_clip
    anchors = range(0, sample.transitions[-1] - 10, 10)
    ious = [_iou_after(segmenter(), frames, truth, a, 10) for a in anchors]
    if floor is not None:
        assert np.mean(ious) > floor, ious
    else:  # the old segmenter loses it: the floor above is what the seeded one adds
        assert np.mean(ious) < 0.7, ious


def _blob_clip(n=6, size=(40, 60), scene=None):
    """A red block moving right on grey noise (or on ``scene`` with a little noise); returns
    frames and masks."""
    rng = np.random.default_rng(0)
    frames, masks = [], []
    for t in range(n):
        if scene is None:
            img = rng.integers(90, 110, size=(*size, 3)).astype(np.uint8)
        else:
            img = np.clip(scene + rng.integers(-3, 4, size=scene.shape), 0, 255).astype(np.uint8)
        m = np.zeros(size, bool)
        m[10:30, 10 + 2 * t:20 + 2 * t] = True
        img[m] = (200, 30, 30)
        frames.append(img)
        masks.append(m)
    return frames, masks


def test_follows_a_block_and_goes_empty_when_it_vanishes():
    frames, masks = _blob_clip()
    seg = SeededSegmenter()
    seg.reset()
    seg.seed(1, frames[0], masks[0], 0)
    box = mask_box_xyxy(masks[0])
    for t in range(1, 4):
        box = (box[0] + 2, box[1], box[2] + 2, box[3])
        res = seg.segment([frames[t]], [{1: box}], [t])[0][1]
        assert _iou(res.mask, masks[t]) > 0.95 and res.score > 0.9
    gone = frames[4].copy()
    gone[masks[4]] = 100  # under water: nothing of the athlete's colours left
    assert not seg.segment([gone], [{1: box}], [4])[0][1].mask.any()
    # and it stays gone (the splash must not become the athlete) until seeded again
    assert not seg.segment([frames[5]], [{1: box}], [5])[0][1].mask.any()
    seg.seed(1, frames[5], masks[5], 5)
    assert seg.tracks[1].gone is False


def test_two_athletes_in_one_suit_split_contested_pixels():
    size = (40, 60)
    img = np.full((*size, 3), 100, np.uint8)
    a = np.zeros(size, bool)
    a[10:30, 10:20] = True
    b = np.zeros(size, bool)
    b[10:30, 24:34] = True
    img[a | b] = (200, 30, 30)
    seg = SeededSegmenter()
    seg.reset()
    seg.seed(1, img, a)
    seg.seed(2, img, b)
    res = seg.segment([img], [{1: mask_box_xyxy(a), 2: mask_box_xyxy(b)}], [1])[0]
    assert not (res[1].mask & res[2].mask).any()
    assert _iou(res[1].mask, a) > 0.95 and _iou(res[2].mask, b) > 0.95


def test_a_pair_seeded_on_one_frame_is_not_its_own_background():
    size = (40, 60)
    img = np.full((*size, 3), 100, np.uint8)
    a = np.zeros(size, bool)
    a[10:30, 10:20] = True
    b = np.zeros(size, bool)
    b[10:30, 22:32] = True  # within each other's background ring
    img[a | b] = (200, 30, 30)
    code = int(colour_codes(img[15:16, 15:16], SeededParams().colour_bits)[0, 0])
    p_suit = {}
    for frame_idx in (None, 0):  # seeded apart (no frame) or together on frame 0
        seg = SeededSegmenter()
        seg.reset()
        seg.seed(1, img, a, frame_idx)
        seg.seed(2, img, b, frame_idx)
        t = seg.tracks[1]
        p_suit[frame_idx] = t.fg_hist[code] / (t.fg_hist[code] + t.bg_hist[code])
    assert p_suit[0] > 0.99 > 0.9 > p_suit[None]


def test_a_screen_locked_overlay_in_the_suit_colour_is_left_out():
    frames, masks = _blob_clip(n=10)
    for f in frames:
        f[0:8, 14:40] = (200, 30, 30)  # a scoreboard the suit's colour, touching the search window
    results = {}
    for drop in (False, True):
        # the scene rule would drop it too (the camera stands still): this test is the overlay's
        seg = SeededSegmenter(SeededParams(drop_overlay=drop, drop_scene=False))
        seg.reset()
        seg.prepare(iter(frames))
        seg.seed(1, frames[0], masks[0] | False, 0)
        box = mask_box_xyxy(masks[0])
        for t in range(1, 4):
            box = (box[0] + 2, box[1], box[2] + 2, box[3])
            res = seg.segment([frames[t]], [{1: box}], [t])[0][1]
        results[drop] = _iou(res.mask, masks[3])
    assert results[True] > 0.95 > 0.8 > results[False]


def _still_crowd_clip(n=12, size=(40, 60)):
    """The red block moving right over a still textured scene (a still camera) that holds a crowd
    member in its colour below-right of the block's path, inside its search window; frames and
    the block's masks."""
    scene = np.random.default_rng(0).integers(40, 160, size=(*size, 3)).astype(np.uint8)
    scene[30:34, 34:40] = (200, 30, 30)
    return _blob_clip(n, size, scene)


def test_a_still_scene_pixel_in_the_suit_colour_is_left_out():
    frames, masks = _still_crowd_clip()
    results = {}
    for drop in (False, True):
        seg = SeededSegmenter(SeededParams(drop_scene=drop, drop_overlay=False))
        seg.reset()
        seg.prepare(iter(frames))
        seg.seed(1, frames[0], masks[0], 0)
        box = mask_box_xyxy(masks[0])
        for t in range(1, 8):
            box = (box[0] + 2, box[1], box[2] + 2, box[3])
            res = seg.segment([frames[t]], [{1: box}], [t])[0][1]
        results[drop] = (_iou(res.mask, masks[7]), bool(res.mask[30:34, 34:40].any()))
    assert results[True][0] > 0.95 and not results[True][1]
    assert results[False][1] and results[False][0] < 0.95


def test_an_athlete_standing_still_is_not_dropped_as_scene():
    """Still for most of the clip, the block is in the median: only growth is checked against it."""
    frames, masks = _blob_clip(n=12)
    still = [frames[0].copy() for _ in range(12)]
    for f in still:
        f[masks[0]] = (200, 30, 30)
    ious = {}
    for grow_only in (True, False):
        seg = SeededSegmenter(SeededParams(scene_grow_only=grow_only, drop_overlay=False))
        seg.reset()
        seg.prepare(iter(still))
        seg.seed(1, still[0], masks[0], 0)
        res = seg.segment([still[1]], [{1: mask_box_xyxy(masks[0])}], [1])[0][1]
        ious[grow_only] = _iou(res.mask, masks[0])
    assert ious[True] > 0.95 and ious[False] < 0.5


def test_a_box_start_gets_its_first_mask_from_grabcut():
    frames, masks = _blob_clip()
    seg = SeededSegmenter()
    seg.reset()
    seg.prepare(frames)
    res = seg.segment([frames[0]], [{1: (8, 8, 22, 32)}], [0])[0][1]
    assert _iou(res.mask, masks[0]) > 0.8 and 1 in seg.tracks


def _crowd_clip():
    """A block of (188, 140, 110) on a background of (200, 150, 120) patches: 0.94 of a crowd
    colour (the synthetic athletes wear 0.85-0.96 of one); at 16 levels per channel the two are
    neighbouring colours, which the histograms' blur merges, at 32 they are two apart."""
    size = (40, 60)
    rng = np.random.default_rng(0)
    frames, masks = [], []
    for t in range(2):
        img = np.full((*size, 3), 60, np.uint8)
        img[(rng.random(size) < 0.5)] = (200, 150, 120)
        m = np.zeros(size, bool)
        m[10:30, 20 + t:30 + t] = True
        img[m] = (188, 140, 110)
        frames.append(img)
        masks.append(m)
    return frames, masks


@pytest.mark.parametrize("bits, floor, ceiling", [(5, 0.95, 1.0), (4, 0.0, 0.8)])
def test_finer_colours_tell_the_athlete_from_the_crowd(bits, floor, ceiling):
    frames, masks = _crowd_clip()
    seg = SeededSegmenter(SeededParams(colour_bits=bits))
    seg.reset()
    seg.seed(1, frames[0], masks[0], 0)
    res = seg.segment([frames[1]], [{1: mask_box_xyxy(masks[1])}], [1])[0][1]
    assert floor <= _iou(res.mask, masks[1]) <= ceiling


@pytest.mark.parametrize("kwargs", [dict(search_px=0), dict(threshold=1.0), dict(bg_rate=2.0), dict(min_area=1.0),
                                    dict(colour_bits=8), dict(colour_bits=1)])
def test_params_are_checked(kwargs):
    with pytest.raises(ValueError, match="SeededParams"):
        SeededParams(**kwargs)


def test_registered_and_hashed():
    b = Backends(PseudoMaskSettings(tracker="none", segmenter="seeded"))
    assert isinstance(b.segmenter, SeededSegmenter)
    params = PseudoMaskSettings(segmenter="seeded").output_params()
    assert params["seeded"]["search_px"] == 10 and "classical" in params
