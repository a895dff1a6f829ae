"""A video's static background: frames aligned by global translation, per-pixel median and spread.

The classical segmenter uses it as its strongest cue: an athlete moves against the scene, so a
pixel that differs from the median of the aligned frames by more than its usual temporal spread is
probably the athlete. The camera motion is estimated between consecutive frames with phase
correlation (translation only: pans and shake; zooms are not modelled). At most ``max_samples``
frames, evenly spread over the video, are kept for the median (as uint8; the median is taken in
bands of rows), so memory stays bounded for long videos.

The same samples also give the *screen-locked* pixels (:meth:`BackgroundModel.overlay`): those
that keep their colour in image coordinates in nearly every sample, a broadcast overlay (a
scoreboard, a logo) while the camera pans, or any still background when it does not. A pixel
that shows that colour now is not the athlete, whose suit may be the scoreboard's black.

Example:
    >>> frames = [np.full((8, 8, 3), 50, np.uint8) for _ in range(5)]
    >>> bg = BackgroundModel.estimate(frames)
    >>> float(bg.difference(0, frames[0]).max())
    0.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np


STATIC_TOL = 16     # max-over-channels colour difference (0-255) that still counts as unchanged
STATIC_SHARE = 0.95  # share of the samples a screen-locked pixel keeps its colour in
MIN_STATIC_SAMPLES = 8  # fewer samples tell nothing about what stays put
FOLLOW_PX = 2  # the camera's pace may change by this much (pixels per frame, each axis) between frames
FOLLOW_RANGE = range(-FOLLOW_PX, FOLLOW_PX + 1)


def _screen_static(frames: list[np.ndarray]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per-pixel median of ``frames`` in image coordinates and where it holds (see the class)."""
    if len(frames) < MIN_STATIC_SAMPLES:
        return None, None
    h, w = frames[0].shape[:2]
    med = np.empty((h, w, 3), np.uint8)
    static = np.empty((h, w), bool)
    band = max(1, (8 << 20) // max(len(frames) * w * 3, 1))
    for r0 in range(0, h, band):
        stack = np.stack([f[r0:r0 + band] for f in frames])
        m = np.median(stack, axis=0).astype(np.uint8)
        near = np.abs(stack.astype(np.int16) - m.astype(np.int16)).max(axis=-1) <= STATIC_TOL
        med[r0:r0 + band] = m
        static[r0:r0 + band] = near.mean(axis=0) >= STATIC_SHARE
    return med, static


def _best_shift(ref: np.ndarray, cur: np.ndarray, candidates: list[tuple[int, int]]) -> tuple[int, int]:
    """Of integer shifts ``(sx, sy)`` (``cur[y, x] ~ ref[y - sy, x - sx]``), the one with the
    smallest mean absolute difference over the overlap; ties keep the earlier candidate."""
    h, w = ref.shape
    best, best_cost = candidates[0], np.inf
    for sx, sy in candidates:
        if abs(sx) >= w // 2 or abs(sy) >= h // 2:
            continue
        a = ref[max(0, -sy):h - max(0, sy), max(0, -sx):w - max(0, sx)]
        b = cur[max(0, sy):h - max(0, -sy), max(0, sx):w - max(0, -sx)]
        cost = float(np.mean(np.abs(a - b)))
        if cost < best_cost - 1e-6:
            best, best_cost = (sx, sy), cost
    return best


@dataclass
class BackgroundModel:
    """Median background in panorama coordinates.

    Attributes:
        offsets_xy: ``(T, 2)`` integer position of each frame's top-left corner in the panorama.
        median: ``(PH, PW, 3)`` float32 median colour (NaN where no sample covers the pixel).
        spread: ``(PH, PW)`` float32 median absolute deviation (max over channels).
        size_hw: frame size.
        screen_median: ``(H, W, 3)`` uint8 per-pixel median in image coordinates, or ``None``.
        screen_static: ``(H, W)`` bool, within ``STATIC_TOL`` of ``screen_median`` in at least
            ``STATIC_SHARE`` of the samples (``None``: not estimated).
    """

    offsets_xy: np.ndarray
    median: np.ndarray
    spread: np.ndarray
    size_hw: tuple[int, int]
    screen_median: np.ndarray | None = None
    screen_static: np.ndarray | None = None

    @classmethod
    def estimate(cls, frames_rgb: Iterable[np.ndarray], max_samples: int = 32) -> "BackgroundModel":
        """Align ``frames_rgb`` (one pass) and take the median of up to ``max_samples`` of them."""
        import cv2

        kept: list[tuple[int, np.ndarray]] = []
        step = 1
        offsets: list[np.ndarray] = []
        prev_gray = ref_gray = window = None
        ref_pos = np.zeros(2, np.int64)
        estimate = np.zeros(2)
        for t, frame in enumerate(frames_rgb):
            gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
            if ref_gray is None:
                prev_gray = ref_gray = gray
                window = cv2.createHanningWindow(gray.shape[::-1], cv2.CV_32F)
            # Phase correlation between consecutive frames proposes the camera motion (sub-pixel,
            # but biased by moving objects and undefined on flat frames); the integer position is
            # then measured against a reference frame, so rounding never accumulates.
            # Copies: OpenCV's phaseCorrelate applies the window to its inputs in place (seen with
            # 4.14), which left the reference frame windowed and every later shift measured
            # against it wrong (synthetic clips: offsets stuck near 0 while the camera followed
            # the dive 100-150 px down).
            (dx, dy), _ = cv2.phaseCorrelate(prev_gray.copy(), gray.copy(), window)
            if np.isfinite(dx) and np.isfinite(dy):
                estimate = estimate - (dx, dy)  # content moving right = camera moving left
            last = offsets[-1] if offsets else ref_pos
            velocity = last - offsets[-2] if len(offsets) > 1 else np.zeros(2, np.int64)
            guess = np.rint(ref_pos - estimate).astype(int)
            candidates = [tuple(int(v) for v in ref_pos - last)]  # the camera stood still
            # It kept its pace, give or take FOLLOW_PX: a camera following a dive speeds up by a
            # pixel or two a frame, more than phase correlation over a bobbing crowd tells.
            pace = ref_pos - last - velocity
            candidates += [(int(pace[0] + i), int(pace[1] + j)) for i in FOLLOW_RANGE for j in FOLLOW_RANGE]
            candidates += [(int(guess[0] + i), int(guess[1] + j)) for i in (-1, 0, 1) for j in (-1, 0, 1)]
            shift = np.array(_best_shift(ref_gray, gray, candidates), np.int64)
            pos = ref_pos - shift
            offsets.append(pos)
            if np.abs(estimate - pos).max() > 1.0:
                estimate = pos.astype(float)
            if np.abs(shift).max() > 0.25 * min(gray.shape):
                ref_gray, ref_pos = gray, pos
            prev_gray = gray
            if t % step == 0:
                kept.append((t, frame))
                if len(kept) > 2 * max_samples:  # thin out: keep every other sample
                    kept = kept[::2]
                    step *= 2
        if not offsets:
            raise ValueError("BackgroundModel.estimate: no frames")
        off = np.asarray(offsets).astype(np.int64)
        off -= off.min(axis=0)
        h, w = kept[0][1].shape[:2]
        pw, ph = int(off[:, 0].max()) + w, int(off[:, 1].max()) + h
        if len(kept) > max_samples:
            idx = np.linspace(0, len(kept) - 1, max_samples).round().astype(int)
            kept = [kept[i] for i in np.unique(idx)]
        import warnings

        median = np.empty((ph, pw, 3), np.float32)
        spread = np.empty((ph, pw), np.float32)
        band = max(1, (8 << 20) // max(len(kept) * pw * 3 * 4, 1))  # ~8 MB of float32 at a time
        for r0 in range(0, ph, band):
            r1 = min(ph, r0 + band)
            stack = np.full((len(kept), r1 - r0, pw, 3), np.nan, np.float32)
            for k, (t, frame) in enumerate(kept):
                x, y = off[t]
                a, b = max(r0, y), min(r1, y + h)
                if b > a:
                    stack[k, a - r0:b - r0, x:x + w] = frame[a - y:b - y]
            with warnings.catch_warnings():  # all-NaN pixels where no kept frame reaches
                warnings.simplefilter("ignore", RuntimeWarning)
                median[r0:r1] = np.nanmedian(stack, axis=0)
                spread[r0:r1] = np.nanmedian(np.abs(stack - median[r0:r1]), axis=0).max(axis=-1)
        screen_median, screen_static = _screen_static([f for _, f in kept])
        return cls(offsets_xy=off, median=median, spread=np.nan_to_num(spread, nan=255.0),
                   size_hw=(h, w), screen_median=screen_median, screen_static=screen_static)

    def overlay(self, frame_rgb: np.ndarray, roi_xyxy: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """Bool ``(h, w)`` inside ``roi_xyxy``: a screen-locked pixel showing its usual colour."""
        rx1, ry1, rx2, ry2 = roi_xyxy or (0, 0, self.size_hw[1], self.size_hw[0])
        if self.screen_static is None or frame_rgb.shape[:2] != self.screen_static.shape:
            return np.zeros((ry2 - ry1, rx2 - rx1), bool)
        d = np.abs(frame_rgb[ry1:ry2, rx1:rx2].astype(np.int16)
                   - self.screen_median[ry1:ry2, rx1:rx2].astype(np.int16)).max(axis=-1)
        return self.screen_static[ry1:ry2, rx1:rx2] & (d <= STATIC_TOL)

    def _window(self, frame_idx: int, roi_xyxy: tuple[int, int, int, int] | None):
        x0, y0 = self.offsets_xy[frame_idx]
        rx1, ry1, rx2, ry2 = roi_xyxy or (0, 0, self.size_hw[1], self.size_hw[0])
        return (slice(y0 + ry1, y0 + ry2), slice(x0 + rx1, x0 + rx2))

    def difference(self, frame_idx: int, frame_rgb: np.ndarray,
                   roi_xyxy: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``(h, w)`` max-over-channels ``|frame - median|`` inside ``roi_xyxy`` (0 where unknown)."""
        rx1, ry1, rx2, ry2 = roi_xyxy or (0, 0, self.size_hw[1], self.size_hw[0])
        med = self.median[self._window(frame_idx, roi_xyxy)]
        d = np.abs(frame_rgb[ry1:ry2, rx1:rx2].astype(np.float32) - med).max(axis=-1)
        return np.nan_to_num(d, nan=0.0)

    def unchanged(self, frame_idx: int, frame_rgb: np.ndarray, roi_xyxy: tuple[int, int, int, int] | None = None,
                  tol: float = STATIC_TOL) -> np.ndarray:
        """Bool ``(h, w)``: the scene's usual colour here, within ``tol`` of a median that held
        (spread within ``tol`` too); ``False`` where no sample covered the pixel.

        The scene behind a moving athlete (a crowd member in the suit's colour, the platform)
        shows it; the athlete, who passes through a pixel in few of the samples, does not.
        """
        d = self.difference(frame_idx, frame_rgb, roi_xyxy)
        return (d <= tol) & (self.spread_at(frame_idx, roi_xyxy) <= tol)  # uncovered: spread 255

    def spread_at(self, frame_idx: int, roi_xyxy: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """``(h, w)`` temporal spread of the background inside ``roi_xyxy``."""
        return self.spread[self._window(frame_idx, roi_xyxy)]

    def foreground(self, frame_idx: int, frame_rgb: np.ndarray,
                   roi_xyxy: tuple[int, int, int, int] | None = None, min_diff: float = 30.0,
                   k_spread: float = 3.0) -> np.ndarray:
        """Bool ``(h, w)``: differs from the background by more than ``max(min_diff, k * spread)``."""
        thr = np.maximum(min_diff, k_spread * self.spread_at(frame_idx, roi_xyxy))
        return self.difference(frame_idx, frame_rgb, roi_xyxy) > thr
