"""The classical segmenter (``--segmenter classical``): box-seeded GrabCut, no model weights (CPU).

:class:`ClassicalSegmenter` runs ``cv2.grabCut`` on a region around the box, seeded from the box
and, when there is one, from the object's previous mask moved with the box (a shape prior), then
keeps the connected component under the box and fills holes. With ``use_background`` it first
learns the video's background (:mod:`hmtools.pseudo.background`, a second decoding pass) and seeds
GrabCut with what moves against it. Its score is the colour separation between the mask and a ring
around it: ``1 - histogram intersection`` in [0, 1]. The pixel operations live in
:mod:`hmtools.pseudo.classical_ops`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from hmtools.pseudo.base import SegmentResult, Segmenter, clip_xyxy
from hmtools.pseudo.classical_ops import (central_ellipse, colour_codes, colour_hist, colour_separation,
                                          component_under_box, fill_holes, resolve_overlaps, smooth_hist)


@dataclass(frozen=True)
class ClassicalParams:
    """Settings of :class:`ClassicalSegmenter`.

    Attributes:
        margin: the region GrabCut sees is the box grown by this fraction of its size per side.
        max_side_px: the region is downscaled so its longer side is at most this (speed).
        iterations: GrabCut iterations.
        use_prior: seed GrabCut with the previous mask (moved with the box) when there is one.
        hist_rate: how fast the object's colour histogram follows new masks (0 = never).
        sure_bg / sure_fg: colour probability of the object below which a pixel is certain
            background, and above which a pixel of the previous mask's core is certain foreground.
        use_background: learn the video's background first (a second decoding pass) and seed
            GrabCut with what moves against it.
        background_samples: frames kept for the background median.
        diff_strong / k_strong: a pixel differing from the background by more than
            ``max(diff_strong, k_strong * spread)`` (0-255 units) is certain foreground.
        diff_quiet / k_quiet: within ``max(diff_quiet, k_quiet * spread)`` it is certain background.
        search_factor: a lost object is searched for this many box sizes around its last box.
        lost_area: an object whose moving core in the box is below this fraction of its previous
            mask's area counts as lost too (the search may find a better blob).
        rare_colour: a colour whose share on the object is below this times uniform (1/4096)
            counts as never seen on it (certain background): splashes, water, other clothes.
    """

    margin: float = 0.3
    max_side_px: int = 128
    iterations: int = 3
    use_prior: bool = True
    hist_rate: float = 0.05
    sure_bg: float = 0.1
    sure_fg: float = 0.8
    use_background: bool = True
    background_samples: int = 32
    diff_strong: float = 30.0
    k_strong: float = 2.0
    diff_quiet: float = 15.0
    k_quiet: float = 1.0
    search_factor: float = 1.5
    lost_area: float = 0.5
    rare_colour: float = 0.5

    def __post_init__(self):
        if self.margin < 0 or self.max_side_px < 16 or self.iterations < 1 or not 0 <= self.hist_rate <= 1:
            raise ValueError(f"ClassicalParams out of range: {self}")



@dataclass
class _ObjectModel:
    """What the classical segmenter remembers of one object between frames."""

    prior_mask: np.ndarray  # bool, inside prior_roi
    prior_roi: tuple[int, int, int, int]
    prior_box: tuple[float, float, float, float]
    fg_hist: np.ndarray  # (4096,) colour histogram of the object, slowly updated


class ClassicalSegmenter(Segmenter):
    """Box-initialised GrabCut anchored by the object's colour model and previous mask (CPU).

    First frame of an object: GrabCut from the box. Later frames: the box's pixels whose colour is
    more likely under the object's histogram than under the surroundings', and the previous mask
    moved to the new box, seed the foreground; the region's rim (where it lies inside the frame) is
    certain background. The object's colour histogram is updated with each new mask (rate
    ``ClassicalParams.hist_rate``) so lighting changes are followed but clutter is not learnt at once.
    """

    name = "classical"
    needs_sequential = True
    batch_size = 1

    def __init__(self, params: ClassicalParams = ClassicalParams()):
        self.params = params
        self.models: dict[int, _ObjectModel] = {}
        self.background = None

    def reset(self) -> None:
        """Forget every object and the background (call between videos).

        Also reseeds OpenCV's random generator (GrabCut's k-means), so a video's masks do not
        depend on which videos this process handled before it (resumed and sharded runs agree).
        """
        import cv2

        self.models.clear()
        self.background = None
        cv2.setRNGSeed(0)

    def forget(self, obj_id: int) -> None:
        """Forget one object (it restarts from a new prompt)."""
        self.models.pop(obj_id, None)

    @property
    def wants_background(self) -> bool:
        """Whether the pipeline should call :meth:`prepare` with the video's frames first."""
        return self.params.use_background

    def prepare(self, frames_rgb: Iterable[np.ndarray]) -> None:
        """Learn the video's background (one pass over its frames) before segmenting it."""
        from hmtools.pseudo.background import BackgroundModel

        self.background = BackgroundModel.estimate(frames_rgb, max_samples=self.params.background_samples)

    def seed(self, obj_id: int, frame_rgb: np.ndarray, mask: np.ndarray, frame_idx: int | None = None) -> None:
        """Learn ``obj_id`` from a known mask: its shape becomes the prior and its colours the
        object's histogram (all of the mask, not the central core learnt from a bare box)."""
        from hmtools.pseudo.base import mask_box_xyxy

        box = mask_box_xyxy(mask)
        if box is None:
            self.forget(obj_id)
            return
        roi_xyxy, _, roi, _, _ = self._region(box, frame_rgb, None)
        rx1, ry1, rx2, ry2 = roi_xyxy
        fg_roi = mask[ry1:ry2, rx1:rx2].astype(bool)
        hist = smooth_hist(colour_hist(colour_codes(roi)[fg_roi]))
        self.models[obj_id] = _ObjectModel(fg_roi.copy(), roi_xyxy, box, hist)

    def segment_one(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float],
                    frame_idx: int | None = None) -> SegmentResult:
        import cv2

        p = self.params
        h, w = frame_rgb.shape[:2]
        x1, y1, x2, y2 = clip_xyxy(box_xyxy, (h, w))
        if x2 - x1 < 2 or y2 - y1 < 2:
            return SegmentResult(np.zeros((h, w), bool), 0.0)
        model = self.models.get(obj_id)
        use_motion = self.background is not None and frame_idx is not None
        roi_xyxy, box_local, roi, in_box, p_fg = self._region((x1, y1, x2, y2), frame_rgb, model)
        seed = None
        if use_motion:
            prior = None
            if model is not None and p.use_prior:
                prior = self._moved_prior(model, (x1, y1, x2, y2), roi_xyxy, in_box.shape)
            seed = self._motion_seed(frame_rgb, frame_idx, roi_xyxy, box_local, p_fg,
                                     first=model is None, prior=prior)
            weak = seed is not None and model is not None and \
                np.count_nonzero(seed == cv2.GC_FGD) < p.lost_area * model.prior_mask.sum()
            if (seed is None or weak) and model is not None:  # lost: look for it further out
                found = self._search(frame_rgb, frame_idx, (x1, y1, x2, y2), model)
                if found is not None:
                    region = self._region(found, frame_rgb, model)
                    found_seed = self._motion_seed(frame_rgb, frame_idx, *region[:2], region[4])
                    if found_seed is not None and (seed is None or np.count_nonzero(
                            found_seed == cv2.GC_FGD) > np.count_nonzero(seed == cv2.GC_FGD)):
                        x1, y1, x2, y2 = found
                        roi_xyxy, box_local, roi, in_box, p_fg = region
                        seed = found_seed
        rx1, ry1, rx2, ry2 = roi_xyxy
        if seed is None:
            seed = self._appearance_seed(model, p_fg, in_box, (x1, y1, x2, y2), roi_xyxy)
        if seed is None:  # nothing in the box moves or looks like the object: it is gone
            return SegmentResult(np.zeros((h, w), bool), 0.0)
        rim = max(1, min(seed.shape) // 32)  # the region's rim is background, except at frame edges
        for cut, sl in ((ry1 > 0, np.s_[:rim]), (ry2 < h, np.s_[-rim:]),
                        (rx1 > 0, np.s_[:, :rim]), (rx2 < w, np.s_[:, -rim:])):
            if cut:
                seed[sl][seed[sl] != cv2.GC_FGD] = cv2.GC_BGD
        fg_roi = self._grabcut(roi, seed)
        if model is None:  # an object's first box is a prompt or a detection: the object is inside
            fg_roi &= cv2.dilate(in_box.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        fg_roi = fill_holes(component_under_box(fg_roi, box_local))
        mask = np.zeros((h, w), bool)
        mask[ry1:ry2, rx1:rx2] = fg_roi
        score = colour_separation(roi, fg_roi)
        if fg_roi.any():
            self._learn(obj_id, model, roi, fg_roi, roi_xyxy, (x1, y1, x2, y2), box_local)
        return SegmentResult(mask=mask, score=score)

    def _region(self, box, frame_rgb, model):
        """The box grown by ``margin``: its xyxy, the box inside it, pixels, box mask, colour p."""
        p = self.params
        h, w = frame_rgb.shape[:2]
        x1, y1, x2, y2 = box
        mx, my = max(4.0, p.margin * (x2 - x1)), max(4.0, p.margin * (y2 - y1))
        roi_xyxy = (int(max(0, math.floor(x1 - mx))), int(max(0, math.floor(y1 - my))),
                    int(min(w, math.ceil(x2 + mx))), int(min(h, math.ceil(y2 + my))))
        rx1, ry1, rx2, ry2 = roi_xyxy
        roi = frame_rgb[ry1:ry2, rx1:rx2]
        box_local = (int(x1 - rx1), int(y1 - ry1), int(math.ceil(x2 - rx1)), int(math.ceil(y2 - ry1)))
        in_box = np.zeros(roi.shape[:2], bool)
        in_box[box_local[1]:box_local[3], box_local[0]:box_local[2]] = True
        return roi_xyxy, box_local, roi, in_box, self._colour_probability(roi, in_box, model)

    def _search(self, frame_rgb, frame_idx, box, model) -> tuple[float, float, float, float] | None:
        """Re-find a lost object: the moving blob within ``search_factor`` box sizes of ``box``
        whose colours and size best match the object; its box, or ``None``."""
        import cv2

        p = self.params
        h, w = frame_rgb.shape[:2]
        x1, y1, x2, y2 = box
        bw, bh = x2 - x1, y2 - y1
        win = (int(max(0, x1 - p.search_factor * bw)), int(max(0, y1 - p.search_factor * bh)),
               int(min(w, x2 + p.search_factor * bw)), int(min(h, y2 + p.search_factor * bh)))
        wx1, wy1, wx2, wy2 = win
        bg = self.background
        d = bg.difference(frame_idx, frame_rgb, win)
        strong = d > np.maximum(p.diff_strong, p.k_strong * bg.spread_at(frame_idx, win))
        n, labels, stats, cents = cv2.connectedComponentsWithStats(strong.astype(np.uint8), connectivity=8)
        if n <= 1:
            return None
        area_prev = max(int(model.prior_mask.sum()), 1)
        codes = colour_codes(frame_rgb[wy1:wy2, wx1:wx2])
        colour = model.fg_hist[codes] * 4096  # > 1 where the colour is commoner on the object
        best, best_score = None, 0.0
        cx, cy = (x1 + x2) / 2 - wx1, (y1 + y2) / 2 - wy1
        for c in range(1, n):
            area = stats[c, cv2.CC_STAT_AREA]
            if not 0.3 * area_prev <= area <= 3 * area_prev:
                continue
            like = float(np.median(colour[labels == c]))
            dist = math.hypot(cents[c][0] - cx, cents[c][1] - cy) / max(bw, bh, 1.0)
            score = like / (1.0 + dist)
            if like > 1.0 and score > best_score:
                best, best_score = c, score
        if best is None:
            return None
        bx, by, bw2, bh2 = stats[best, :4]
        return float(wx1 + bx), float(wy1 + by), float(wx1 + bx + bw2), float(wy1 + by + bh2)

    def _colour_probability(self, roi: np.ndarray, in_box: np.ndarray,
                            model: _ObjectModel | None) -> np.ndarray | None:
        """Per pixel, p(object | colour) from the object's histogram vs. the region outside the box."""
        if model is None:
            return None
        codes = colour_codes(roi)
        outside = ~in_box
        bg_hist = smooth_hist(colour_hist(codes[outside])) if outside.any() else np.full(4096, 1 / 4096)
        fg = model.fg_hist[codes]
        p_fg = fg / (fg + bg_hist[codes] + 1e-12)
        p_fg[fg * fg.size < self.params.rare_colour] = 0.0  # (nearly) never seen on the object
        return p_fg

    def _motion_seed(self, frame_rgb, frame_idx, roi_xyxy, box_local, p_fg, first: bool = False,
                     prior: np.ndarray | None = None) -> np.ndarray | None:
        """Seeds from the background model: what moves is the object, what matches is not.

        Pixels differing from the background by more than ``max(diff_strong, k_strong * spread)``
        and connected to the box's centre are certain foreground; pixels within
        ``max(diff_quiet, k_quiet * spread)`` of it, or of colours the object never showed, are
        certain background; GrabCut decides the rest by colour. ``None`` when nothing moves there.

        On an object's ``first`` frame (a prompt box) the box is known to hold the object, which
        may be standing still (and so be part of the median background): inside the box nothing
        is certain background, and the box is probably foreground.
        """
        import cv2

        p = self.params
        bg = self.background
        if frame_idx >= len(bg.offsets_xy) or bg.size_hw != frame_rgb.shape[:2]:
            return None
        d = bg.difference(frame_idx, frame_rgb, roi_xyxy)
        spread = bg.spread_at(frame_idx, roi_xyxy)
        strong = d > np.maximum(p.diff_strong, p.k_strong * spread)
        alien = p_fg < p.sure_bg if p_fg is not None else np.zeros_like(strong)
        core = component_under_box(strong & ~alien, box_local, inside_box_only=True)
        if not core.any() and not first:
            return None
        seed = np.full(d.shape, cv2.GC_PR_BGD, np.uint8)
        quiet = d < np.maximum(p.diff_quiet, p.k_quiet * spread)
        if prior is not None and p_fg is not None:
            # Where the object was a frame ago and the colours are its own, a quiet pixel may be
            # the object standing still (then the median background shows it): let colour decide.
            still = prior & (p_fg >= 0.5)
            quiet &= ~still
            seed[still] = cv2.GC_PR_FGD
        seed[quiet | alien] = cv2.GC_BGD
        if first:
            x1, y1, x2, y2 = box_local
            seed[y1:y2, x1:x2] = cv2.GC_PR_FGD
        seed[core] = cv2.GC_FGD
        return seed

    def _appearance_seed(self, model, p_fg, in_box, box, roi_xyxy) -> np.ndarray | None:
        """Seeds without a background model: the box (first frame), or the object's colours in the
        box plus the previous mask moved with the box. ``None`` when the box shows none of them."""
        import cv2

        p = self.params
        seed = np.full(in_box.shape, cv2.GC_PR_BGD, np.uint8)
        if model is None:
            seed[in_box] = cv2.GC_PR_FGD
            return seed
        likely = p_fg >= 0.5
        fg_seed = in_box & likely
        core = np.zeros_like(in_box)
        if p.use_prior:
            moved = self._moved_prior(model, box, roi_xyxy, in_box.shape)
            fg_seed |= moved & likely
            core = cv2.erode(moved.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if fg_seed.sum() < 0.05 * in_box.sum():
            return None if self.background is not None else self._box_seed(seed, in_box)
        seed[fg_seed] = cv2.GC_PR_FGD
        # Colours the object never showed are background for sure; the previous mask's core in the
        # object's colours is foreground for sure: GrabCut cannot flip these.
        seed[p_fg < p.sure_bg] = cv2.GC_BGD
        seed[core & (p_fg >= p.sure_fg)] = cv2.GC_FGD
        return seed

    @staticmethod
    def _box_seed(seed: np.ndarray, in_box: np.ndarray) -> np.ndarray:
        import cv2

        seed[in_box] = cv2.GC_PR_FGD
        return seed

    def _grabcut(self, roi: np.ndarray, seed: np.ndarray) -> np.ndarray:
        """GrabCut on the region (downscaled to ``max_side_px``); bool foreground at full size."""
        import cv2

        p = self.params
        rh, rw = roi.shape[:2]
        scale = min(1.0, p.max_side_px / max(rh, rw))
        if scale < 1:
            small = cv2.resize(roi, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            seed_small = cv2.resize(seed, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
        else:
            small, seed_small = roi, seed.copy()
        labels = (cv2.GC_BGD, cv2.GC_PR_BGD)
        has_bg = np.isin(seed_small, labels).any()
        has_fg = (~np.isin(seed_small, labels)).any()
        if has_bg and has_fg and not np.isin(seed_small, (cv2.GC_BGD, cv2.GC_FGD)).all():
            try:
                cv2.grabCut(np.ascontiguousarray(small[..., ::-1]), seed_small, None,
                            np.zeros((1, 65)), np.zeros((1, 65)), p.iterations, cv2.GC_INIT_WITH_MASK)
            except cv2.error:  # a region GrabCut cannot model (a single colour): keep the seeds
                pass
        fg = ((seed_small == cv2.GC_FGD) | (seed_small == cv2.GC_PR_FGD)).astype(np.uint8)
        if scale < 1:
            return cv2.resize(fg * 255, (rw, rh), interpolation=cv2.INTER_LINEAR) > 127
        return fg.astype(bool)

    def _learn(self, obj_id, model, roi, fg_roi, roi_xyxy, box, box_local) -> None:
        """Remember the mask (shape prior) and update the object's colour histogram."""
        learn = fg_roi
        if model is None and self.background is None:  # first frame from a bare box: its core only
            learn = fg_roi & central_ellipse(fg_roi.shape, box_local)
            if learn.sum() < 20:
                learn = fg_roi
        hist = smooth_hist(colour_hist(colour_codes(roi)[learn]))
        if model is not None:
            hist = (1 - self.params.hist_rate) * model.fg_hist + self.params.hist_rate * hist
        self.models[obj_id] = _ObjectModel(fg_roi.copy(), roi_xyxy, box, hist)

    @staticmethod
    def _moved_prior(model: _ObjectModel, box, roi, size_small) -> np.ndarray:
        """The previous mask, moved and scaled from its box to ``box``, in region pixels."""
        import cv2

        px1, py1 = model.prior_roi[:2]
        ox1, oy1, ox2, oy2 = model.prior_box
        x1, y1, x2, y2 = box
        rx1, ry1, rx2, ry2 = roi
        sx = (x2 - x1) / max(ox2 - ox1, 1e-6)
        sy = (y2 - y1) / max(oy2 - oy1, 1e-6)
        sh, sw = size_small
        kx, ky = sw / (rx2 - rx1), sh / (ry2 - ry1)
        # old mask pixel i sits at frame x = px1 + i; moved: x1 + (x - ox1) * sx; small: (. - rx1) * kx
        mat = np.float32([[sx * kx, 0, (x1 + (px1 - ox1) * sx - rx1) * kx],
                          [0, sy * ky, (y1 + (py1 - oy1) * sy - ry1) * ky]])
        moved = cv2.warpAffine(model.prior_mask.astype(np.uint8) * 255, mat, (sw, sh),
                               flags=cv2.INTER_LINEAR, borderValue=0)
        return moved > 127

    def segment(self, frames_rgb: Sequence[np.ndarray],
                boxes: Sequence[dict[int, tuple[float, float, float, float]]],
                frame_indices: Sequence[int] | None = None) -> list[dict[int, SegmentResult]]:
        """Masks per frame and object; overlapping objects keep the pixels nearer their box centre.

        ``frame_indices`` (positions in the video) let the background model of :meth:`prepare` help.
        """
        out = []
        indices = frame_indices if frame_indices is not None else [None] * len(frames_rgb)
        for frame, frame_boxes, idx in zip(frames_rgb, boxes, indices):
            res = {obj_id: self.segment_one(frame, obj_id, b, idx) for obj_id, b in frame_boxes.items()}
            if len(res) > 1:
                resolve_overlaps(res, frame_boxes)
            out.append(res)
        return out

