"""The mask-seeded segmenter (``--segmenter seeded``): follows a known mask by its colours (CPU, no weights).

Made for re-propagation from a corrected frame, where the whole mask is known (not just a box).
:meth:`SeededSegmenter.seed` learns two colour histograms from it: the athlete's (the mask's pixels)
and its *local* background's (a ring around the mask). On each next frame the previous mask is
moved by the tracker's box (its centre's shift against the previous mask's box), grown by
``search_px`` (the search window: the shape prior), and every window pixel is the athlete's when
its colour is more likely under the athlete's histogram than under the background's; optionally
(``use_background``) the pixel's difference from the video's median background
(:mod:`hmtools.pseudo.background`) votes too, through a histogram of it learnt the same way.
Specks much smaller than the largest blob are dropped; the background histogram follows the ring
of every new mask (``bg_rate``), the athlete's slowly (``fg_rate``), so the crowd and water the
camera pans across are learnt as they come, a splash is not learnt as the athlete.

A mask shrinking below ``min_area`` of the seed's area (the athlete went under water) becomes
empty and stays empty for that object until it is seeded again, so the entry ends with the right
answer (nobody there) instead of a splash.

An object started from a bare box (``pseudo-mask``'s prompt or detection) has no mask to learn from:
its first mask comes from the :class:`~hmtools.pseudo.classical.ClassicalSegmenter` (GrabCut), and
is then followed like a seed. Several objects in one frame split contested pixels by the distance
to their moved previous masks (synchronized pairs wear the same suit), and each one's background
ring leaves out the others' masks. Pixels of a screen-locked overlay showing its usual colour (a
scoreboard, :meth:`~hmtools.pseudo.background.BackgroundModel.overlay`) are never the athlete,
and neither are new pixels showing the scene's usual colour (a crowd member behind the athlete,
:meth:`~hmtools.pseudo.background.BackgroundModel.unchanged`).

Measured (``benchmarks/profile_propagation.py``, 8 synthetic clips of seed 1, exact masks on 5%
evenly spaced keyframes): mean IoU 0.89 one frame from an anchor and 0.91-0.92 up to eleven frames
away (0.86 and 0.85-0.87 with 16 colour levels per channel), where the classical segmenter has 0.54
and 0.43-0.47; the README's "Correction effort, measured" has the loop's figures.

Example:
    >>> seg = SeededSegmenter()                                        # doctest: +SKIP
    >>> seg.seed(1, frame0, mask0)                                     # doctest: +SKIP
    >>> seg.segment([frame1], [{1: box1}], [1])[0][1].mask             # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from hmtools.pseudo.base import SegmentResult, Segmenter, clip_xyxy, mask_box_xyxy
from hmtools.pseudo.classical import ClassicalParams, ClassicalSegmenter
from hmtools.pseudo.classical_ops import colour_codes, colour_hist, colour_separation, smooth_hist

DIFF_BINS = 16  # histogram of the background difference, in units of diff_unit


@dataclass(frozen=True)
class SeededParams:
    """Settings of :class:`SeededSegmenter`.

    Attributes:
        search_px: the window is the moved previous mask grown by this many pixels (by half the
            square root of its area when that is smaller, at least 2).
        ring_px: the local background is learnt from a ring this wide around the mask.
        threshold: a pixel is the athlete's when p(athlete | colour[, difference]) exceeds this.
        fg_rate / bg_rate: how fast the athlete's / the background's histograms follow new masks.
        keep_blob: blobs smaller than this share of the largest are dropped.
        min_area: a mask below this share of the seed's area counts as gone (under water).
        use_background: also use the difference from the video's median background (a second
            decoding pass).
        diff_unit: width of a bin of the difference histogram (0-255 units).
        colour_bits: the colour histograms have ``2 ** colour_bits`` levels per channel. 5 (32768
            colours) tells an athlete from a crowd member dressed a few levels apart, which 4
            (GrabCut's 4096) merges: keyframes on 5% of the frames reach mean IoU 0.92 / 0.88 /
            0.86 on synthetic seeds 1 / 2 / 3, against 0.87 / 0.79 / 0.78 with 4 and 0.87 / 0.84 /
            0.84 with 6 (too few samples per bin).
        drop_overlay: pixels of the video's screen-locked overlay showing its usual colour
            (:meth:`~hmtools.pseudo.background.BackgroundModel.overlay`: a scoreboard the suit's
            colour, which a mask would otherwise take in and carry along) are never the athlete.
        drop_scene / scene_tol / scene_grow_only: a pixel showing the scene's usual colour (within
            ``scene_tol`` of the camera-aligned median background, :meth:`~hmtools.pseudo.
            background.BackgroundModel.unchanged`) is not the athlete; only outside the moved
            previous mask (``scene_grow_only``), since an athlete standing still on the platform
            while the camera waits is in the median too. A crowd member the suit's colour touching
            the mask was taken in and carried along, and at the end of the entry a mask slid onto
            one instead of going empty: on synthetic seeds 1 / 2 / 3 (``bench_correction.py
            --quick``, queue at 5%, the camera alignment fixed) mean IoU 0.924 / 0.889 / 0.869
            without, 0.938 / 0.913 / 0.910 with; ``scene_tol`` 8 instead of 16 barely drops anything.
    """

    search_px: int = 10
    ring_px: int = 8
    threshold: float = 0.5
    fg_rate: float = 0.0
    bg_rate: float = 0.3
    keep_blob: float = 0.5
    min_area: float = 0.05
    use_background: bool = False
    diff_unit: float = 8.0
    colour_bits: int = 5
    drop_overlay: bool = True
    drop_scene: bool = True
    scene_tol: float = 16.0
    scene_grow_only: bool = True

    def __post_init__(self):
        if self.search_px < 1 or self.ring_px < 1 or not 0 < self.threshold < 1 \
                or not (0 <= self.fg_rate <= 1 and 0 <= self.bg_rate <= 1) or not 0 <= self.min_area < 1 \
                or not 2 <= self.colour_bits <= 7:
            raise ValueError(f"SeededParams out of range: {self}")


@dataclass
class _Track:
    """What the seeded segmenter remembers of one object."""

    mask: np.ndarray            # bool, the previous mask inside roi
    roi: tuple[int, int, int, int]  # xyxy of ``mask`` in the frame
    fg_hist: np.ndarray         # (2 ** (3 * colour_bits),) athlete colours
    bg_hist: np.ndarray         # (2 ** (3 * colour_bits),) local background colours
    seed_area: int
    fg_diff: np.ndarray | None = None  # (DIFF_BINS,) background difference on / off the athlete
    bg_diff: np.ndarray | None = None
    gone: bool = False          # shrank away (under water): empty until seeded again

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        b = mask_box_xyxy(self.mask)
        if b is None:
            return None
        x0, y0 = self.roi[:2]
        return b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0


def _disk(r: int) -> np.ndarray:
    import cv2

    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _crop_box(box, pad: int, size_hw) -> tuple[int, int, int, int]:
    h, w = size_hw
    x1, y1, x2, y2 = box
    return (max(0, int(np.floor(x1)) - pad), max(0, int(np.floor(y1)) - pad),
            min(w, int(np.ceil(x2)) + pad), min(h, int(np.ceil(y2)) + pad))


def _paste(mask: np.ndarray, roi, dst_roi, dx: int = 0, dy: int = 0) -> np.ndarray:
    """``mask`` (at ``roi``), moved by ``(dx, dy)``, as a bool array of ``dst_roi``."""
    x1, y1, x2, y2 = dst_roi
    out = np.zeros((y2 - y1, x2 - x1), bool)
    sx1, sy1 = roi[0] + dx - x1, roi[1] + dy - y1
    mh, mw = mask.shape
    a1, b1 = max(0, sy1), max(0, sx1)
    a2, b2 = min(out.shape[0], sy1 + mh), min(out.shape[1], sx1 + mw)
    if a2 > a1 and b2 > b1:
        out[a1:a2, b1:b2] = mask[a1 - sy1:a2 - sy1, b1 - sx1:b2 - sx1]
    return out


def _ratio(fg: np.ndarray, bg: np.ndarray, idx: np.ndarray) -> np.ndarray:
    f, b = fg[idx], bg[idx]
    return f / (f + b + 1e-12)


class SeededSegmenter(Segmenter):
    """Follows an object's known mask by its colours against its local background (see the module)."""

    name = "seeded"
    needs_sequential = True
    batch_size = 1

    def __init__(self, params: SeededParams = SeededParams(), classical: ClassicalParams = ClassicalParams()):
        self.params = params
        self.tracks: dict[int, _Track] = {}
        self._seed_frame: tuple[int | None, dict[int, np.ndarray]] = (None, {})  # masks seeded on one frame
        self.classical = ClassicalSegmenter(classical)  # first masks of box-started objects
        self.background = None

    @property
    def wants_background(self) -> bool:
        return self.params.use_background or self.params.drop_scene or self.classical.wants_background

    def reset(self) -> None:
        self.tracks.clear()
        self._seed_frame = (None, {})
        self.background = None
        self.classical.reset()

    def forget(self, obj_id: int) -> None:
        self.tracks.pop(obj_id, None)
        self._seed_frame[1].pop(obj_id, None)
        self.classical.forget(obj_id)

    def prepare(self, frames_rgb: Iterable[np.ndarray]) -> None:
        from hmtools.pseudo.background import BackgroundModel

        self.background = BackgroundModel.estimate(frames_rgb, max_samples=self.classical.params.background_samples)
        self.classical.background = self.background if self.classical.wants_background else None

    def _aligned(self, frame_idx, frame_rgb) -> bool:
        """The background model covers this frame (its index and size)."""
        bg = self.background
        return bg is not None and frame_idx is not None and frame_idx < len(bg.offsets_xy) \
            and bg.size_hw == frame_rgb.shape[:2]

    def _diff_codes(self, frame_idx, frame_rgb, roi) -> np.ndarray | None:
        if not self.params.use_background or not self._aligned(frame_idx, frame_rgb):
            return None
        d = self.background.difference(frame_idx, frame_rgb, roi)
        return np.minimum((d / self.params.diff_unit).astype(np.int64), DIFF_BINS - 1)

    def seed(self, obj_id: int, frame_rgb: np.ndarray, mask: np.ndarray, frame_idx: int | None = None) -> None:
        """Learn ``obj_id`` from a known full-frame bool mask on this frame (empty: forget it).

        Objects seeded on the same ``frame_idx`` (a synchronized pair's anchor) are learnt
        together: the others' pixels are left out of each one's background ring, or the pair's
        shared colours would count as background and the masks shrink.
        """
        if mask_box_xyxy(mask) is None:
            self.forget(obj_id)
            return
        if frame_idx is None or self._seed_frame[0] != frame_idx:
            self._seed_frame = (frame_idx, {})
        together = self._seed_frame[1]
        together[obj_id] = mask.astype(bool)
        for o, m_full in together.items():
            others = np.zeros_like(m_full)
            for q, mq in together.items():
                if q != o:
                    others |= mq
            roi = _crop_box(mask_box_xyxy(m_full), self.params.ring_px + 1, frame_rgb.shape[:2])
            x1, y1, x2, y2 = roi
            self.tracks[o] = self._learn(None, frame_rgb, m_full[y1:y2, x1:x2], roi, frame_idx,
                                         others[y1:y2, x1:x2])
        self.classical.seed(obj_id, frame_rgb, mask, frame_idx)

    def _learn(self, track: _Track | None, frame_rgb, m: np.ndarray, roi, frame_idx,
               others: np.ndarray | None = None) -> _Track:
        """The object's memory from mask ``m`` (in ``roi``); ``others``: other athletes' pixels
        there, left out of the background ring."""
        import cv2

        p = self.params
        x1, y1, x2, y2 = roi
        bits = p.colour_bits
        codes = colour_codes(frame_rgb[y1:y2, x1:x2], bits)
        ring = cv2.dilate(m.astype(np.uint8), _disk(p.ring_px)).astype(bool) & ~m
        if others is not None:
            ring &= ~others
        fg = smooth_hist(colour_hist(codes[m], bits), bits)
        bg = smooth_hist(colour_hist(codes[ring], bits), bits) if ring.any() else np.full(1 << 3 * bits, 0.5 ** (3 * bits))
        dc = self._diff_codes(frame_idx, frame_rgb, roi)
        fgd = bgd = None
        if dc is not None:
            fgd = (np.bincount(dc[m], minlength=DIFF_BINS) + 1.0) / (m.sum() + DIFF_BINS)
            bgd = (np.bincount(dc[ring], minlength=DIFF_BINS) + 1.0) / (ring.sum() + DIFF_BINS)
        if track is None:
            return _Track(m, roi, fg, bg, int(m.sum()), fgd, bgd)
        mix = lambda old, new, r: new if old is None or new is None else (1 - r) * old + r * new  # noqa: E731
        return _Track(m, roi, mix(track.fg_hist, fg, p.fg_rate), mix(track.bg_hist, bg, p.bg_rate),
                      track.seed_area, mix(track.fg_diff, fgd, p.fg_rate), mix(track.bg_diff, bgd, p.bg_rate))

    def _predict(self, track: _Track, box_xyxy, size_hw):
        """The previous mask moved by the tracker's box, its search window and the window's xyxy."""
        import cv2

        prev = track.box
        cx = (box_xyxy[0] + box_xyxy[2] - prev[0] - prev[2]) / 2
        cy = (box_xyxy[1] + box_xyxy[3] - prev[1] - prev[3]) / 2
        dx, dy = int(round(cx)), int(round(cy))
        # A small mask (the athlete going under water) searches a small window: a tiny seed must
        # not grow into the splash around it.
        r = int(min(self.params.search_px, max(2, round(np.sqrt(track.mask.sum())))))
        moved_box = (prev[0] + dx, prev[1] + dy, prev[2] + dx, prev[3] + dy)
        win_roi = _crop_box(moved_box, r + self.params.ring_px + 1, size_hw)
        moved = _paste(track.mask, track.roi, win_roi, dx, dy)
        window = cv2.dilate(moved.astype(np.uint8), _disk(r)).astype(bool)
        return moved, window, win_roi

    def _probability(self, track: _Track, frame_rgb, roi, frame_idx) -> np.ndarray:
        x1, y1, x2, y2 = roi
        codes = colour_codes(frame_rgb[y1:y2, x1:x2], self.params.colour_bits)
        p = _ratio(track.fg_hist, track.bg_hist, codes)
        dc = self._diff_codes(frame_idx, frame_rgb, roi)
        if dc is not None and track.fg_diff is not None:
            q = _ratio(track.fg_diff, track.bg_diff, dc)
            p = p * q / (p * q + (1 - p) * (1 - q) + 1e-12)  # naive Bayes: the two cues multiply
        return p

    def _follow(self, track: _Track, frame_rgb, box_xyxy, frame_idx):
        """``(mask in roi, roi, moved previous mask, p)`` for one tracked object."""
        import cv2

        moved, window, roi = self._predict(track, box_xyxy, frame_rgb.shape[:2])
        p = self._probability(track, frame_rgb, roi, frame_idx)
        fg = (p > self.params.threshold) & window
        if self.params.drop_overlay and self.background is not None:
            fg &= ~self.background.overlay(frame_rgb, roi)
        if self.params.drop_scene and self._aligned(frame_idx, frame_rgb):
            scene = self.background.unchanged(frame_idx, frame_rgb, roi, self.params.scene_tol)
            fg &= ~(scene & ~moved if self.params.scene_grow_only else scene)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
        if n > 1:
            areas = stats[1:, cv2.CC_STAT_AREA]
            keep = 1 + np.flatnonzero(areas >= self.params.keep_blob * areas.max())
            fg = np.isin(labels, keep)
        return fg, roi, moved, p

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]],
                frame_indices: Sequence[int] | None = None) -> list[dict[int, SegmentResult]]:
        """Masks per frame and object (see the module docstring)."""
        self._seed_frame = (None, {})  # seeding is over: its dense masks are no longer needed
        out = []
        indices = frame_indices if frame_indices is not None else [None] * len(frames_rgb)
        for frame, frame_boxes, idx in zip(frames_rgb, boxes, indices):
            out.append(self._segment_frame(frame, frame_boxes, idx))
        return out

    def _segment_frame(self, frame_rgb, frame_boxes, frame_idx) -> dict[int, SegmentResult]:
        h, w = frame_rgb.shape[:2]
        res: dict[int, SegmentResult] = {}
        followed = {}
        for obj_id, box in frame_boxes.items():
            track = self.tracks.get(obj_id)
            x1, y1, x2, y2 = clip_xyxy(box, (h, w))
            if track is None:  # started from a bare box: GrabCut gives the first mask
                if x2 - x1 < 2 or y2 - y1 < 2:
                    res[obj_id] = SegmentResult(np.zeros((h, w), bool), 0.0)
                    continue
                first = self.classical.segment([frame_rgb], [{obj_id: box}], [frame_idx])[0][obj_id]
                if first.mask.any():
                    self.seed(obj_id, frame_rgb, first.mask, frame_idx)
                res[obj_id] = first
            elif track.gone:
                res[obj_id] = SegmentResult(np.zeros((h, w), bool), 0.0)
            else:
                followed[obj_id] = self._follow(track, frame_rgb, box, frame_idx)
        if len(followed) > 1:
            self._split_contested(followed)
        for obj_id, (fg, roi, _, _) in followed.items():
            others = np.zeros(fg.shape, bool)
            for o, (fo, ro, _, _) in followed.items():
                if o != obj_id:
                    others |= _paste(fo, ro, roi)
            res[obj_id] = self._finish(obj_id, frame_rgb, fg, roi, frame_idx, others)
        return res

    @staticmethod
    def _split_contested(followed: dict) -> None:
        """A pixel claimed by several objects goes to the one whose moved previous mask is nearest."""
        import cv2

        ids = list(followed)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                fa, ra, ma, _ = followed[a]
                fb, rb, mb, _ = followed[b]
                u = (min(ra[0], rb[0]), min(ra[1], rb[1]), max(ra[2], rb[2]), max(ra[3], rb[3]))
                A, B = _paste(fa, ra, u), _paste(fb, rb, u)
                both = A & B
                if not both.any():
                    continue
                da = cv2.distanceTransform((~_paste(ma, ra, u)).astype(np.uint8), cv2.DIST_L2, 3)
                db = cv2.distanceTransform((~_paste(mb, rb, u)).astype(np.uint8), cv2.DIST_L2, 3)
                to_a = da <= db
                A &= ~(both & ~to_a)
                B &= ~(both & to_a)
                followed[a] = (A[ra[1] - u[1]:ra[3] - u[1], ra[0] - u[0]:ra[2] - u[0]], ra, ma, followed[a][3])
                followed[b] = (B[rb[1] - u[1]:rb[3] - u[1], rb[0] - u[0]:rb[2] - u[0]], rb, mb, followed[b][3])

    def _finish(self, obj_id, frame_rgb, fg, roi, frame_idx, others=None) -> SegmentResult:
        """The full-frame result; the object's memory follows the new mask (or it is gone)."""
        h, w = frame_rgb.shape[:2]
        track = self.tracks[obj_id]
        mask = np.zeros((h, w), bool)
        if fg.sum() < max(1.0, self.params.min_area * track.seed_area):
            track.gone = True
            return SegmentResult(mask, 0.0)
        x1, y1, x2, y2 = roi
        mask[y1:y2, x1:x2] = fg
        score = colour_separation(frame_rgb[y1:y2, x1:x2], fg)
        self.tracks[obj_id] = self._learn(track, frame_rgb, fg, roi, frame_idx, others)
        return SegmentResult(mask, score)
