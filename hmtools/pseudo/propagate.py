"""Re-propagation: corrected frames become anchors and the pseudo masks between them are regenerated.

For one athlete of one video, the frames holding a correction are its *anchors*. Between two
consecutive anchors ``a < b`` the tracker and segmenter run forward from ``a`` and backward from
``b`` over the whole gap, each seeded by the corrected mask (the tracker starts from its box; the
segmenter is given the mask itself through :meth:`~hmtools.pseudo.base.Segmenter.seed`), and every
frame takes the median of the two runs' masks and its current one (:func:`choose_mask`: the one
that agrees best with the other two, so a run that drifted is outvoted). Before the first anchor
the run goes back to the producer's start (the frame where the athlete's pseudo masks begin, a
prompt box or a detection); the run's masks replace the producer's there. An ``empty`` correction (nobody there)
carries over as empty masks, unflagged, but only forward and only up to an anchor that is empty
too: between an empty and a non-empty anchor the non-empty one's run covers the whole gap, and an
empty first anchor says nothing about the frames before it (an athlete who entered the water stays
gone; one not yet seen is not erased); such a gap is planned as before, half to each anchor, or
all of it to the anchor with someone there (:func:`anchor_plan` with ``two_sided=False`` is that
nearer-anchor plan for every gap; propagating from one anchor only, the editor's "propagate from
here", uses it too). After the last anchor the run goes forward from it, but
before the first and after the last only frames that already held a pseudo mask of that athlete
are rewritten (an athlete who had not appeared yet stays not annotated). After the last anchor
the producer's own empty masks that run to the end of the clip (the athlete went under) stay
empty where the run's mask has shrunk below ``GONE_SHARE`` of the anchor's area
(:func:`keep_gone`): a run from a mask before the entry otherwise carries a splash on to the end
of the clip. A corrected frame is never rewritten: its pseudo mask stays what the correction was
made against.

Each rewritten mask records the anchor it came from (:attr:`PseudoMask.anchor`, the frame name);
the run's fingerprint (:func:`anchors_hash`) covers the anchors and the settings, so the workflow
(:mod:`hmtools.workflows.propagate`) skips a video propagated before with the same ones.

Frames: one decoding pass for all athletes; only the frames of the gaps being propagated are
held (a backward run holds its gap, ``b - a + 1`` frames, never the whole video), and the chosen
masks as RLE. Because the current masks vote, a propagation depends on the previous round's
masks as well as the anchors (a forced rerun with the same anchors may differ a little); the
skip record still covers anchors and settings.

Example:
    >>> plan = anchor_plan(doc, obj_id=1)                    # doctest: +SKIP
    >>> masks = propagate_video(doc, source, backends)      # {(frame_idx, obj_id): PseudoMask}  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from hmtools.pseudo.base import TrackedBox, mask_box_xyxy
from hmtools.pseudo.video_loop import segmented_pseudo_mask
from hmtools.rle import mask_to_rle, rle_to_mask
from hmtools.store import PseudoMask, Quality, VideoDoc, mask_hash


@dataclass(frozen=True)
class Run:
    """One tracker/segmenter run from an anchor.

    Attributes:
        anchor: frame index of the corrected frame the run starts from.
        targets: frame indices it writes, in the order it visits them (away from the anchor).
    """

    anchor: int
    targets: tuple[int, ...]

    @property
    def direction(self) -> int:
        return 1 if not self.targets or self.targets[0] > self.anchor else -1


def anchors_of(doc: VideoDoc, obj_id: int) -> list[int]:
    """Frame indices where ``obj_id`` has a correction (any status), in order."""
    return [i for i in range(doc.n_frames) if doc.correction(i, obj_id) is not None]


def anchor_plan(doc: VideoDoc, obj_id: int, only_from: int | None = None, two_sided: bool = False) -> list[Run]:
    """The runs that re-propagate one athlete (see the module docstring).

    Args:
        only_from: restrict to the runs starting at this anchor (the editor's "propagate from this
            frame"): forward and backward up to the neighbouring anchors.
        two_sided: between two anchors with someone there, both runs cover the whole gap, and the
            run before the first anchor goes back to the producer's start (the caller chooses per
            frame, :func:`choose_mask`); otherwise each frame is planned for its nearer anchor only.

    Example:
        With corrections on frames 2 and 6 of 9 frames that all hold pseudo masks:
        ``[Run(2, (1, 0)), Run(2, (3, 4)), Run(6, (5,)), Run(6, (7, 8))]``.
    """
    anchors = anchors_of(doc, obj_id)
    runs: list[Run] = []
    if not anchors:
        return runs

    def had_pseudo(i: int) -> bool:
        return doc.pseudo_mask(i, obj_id) is not None

    def empty(i: int) -> bool:
        return doc.correction(i, obj_id).rle.area == 0

    first, last = anchors[0], anchors[-1]
    started = next((i for i in range(doc.n_frames) if had_pseudo(i)), first)
    if not empty(first):  # "nobody there" says nothing about the frames before it
        # The producer's own start (a prompt box) is a weaker anchor: the first half stays its
        # (two-sided: the run goes all the way back to it).
        stop = started - 1 if two_sided else (started + first) // 2
        runs.append(Run(first, tuple(i for i in range(first - 1, stop, -1) if had_pseudo(i))))
    for a, b in zip(anchors, anchors[1:]):
        if two_sided and not empty(a) and not empty(b):
            runs.append(Run(a, tuple(range(a + 1, b))))
            runs.append(Run(b, tuple(range(b - 1, a, -1))))
            continue
        mid = (a + b) // 2  # frames a+1..mid from a, mid+1..b-1 from b
        if empty(a) != empty(b):  # the athlete leaves (or comes): the anchor with someone goes all the way
            mid = b - 1 if empty(b) else a
        runs.append(Run(a, tuple(range(a + 1, mid + 1))))
        runs.append(Run(b, tuple(range(b - 1, mid, -1))))
    runs.append(Run(last, tuple(i for i in range(last + 1, doc.n_frames) if had_pseudo(i))))
    runs = [r for r in runs if r.targets]
    if only_from is not None:
        runs = [r for r in runs if r.anchor == only_from]
    return runs


def anchors_hash(doc: VideoDoc, settings_fingerprint: dict) -> str:
    """16 hex digits over every correction (frame, object, mask hash) and the run's settings."""
    anchors = sorted([i, obj_id, mask_hash(c.rle)] for i, obj_id, c in doc.corrected.items())
    payload = {"anchors": anchors, "settings": settings_fingerprint}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


class _FrameWindow:
    """Frames of one decoding pass, kept only from the earliest frame still needed."""

    def __init__(self, frames: Iterator):
        self._it = iter(frames)
        self._held: dict[int, np.ndarray] = {}
        self._next = 0

    def get(self, idx: int) -> np.ndarray:
        while idx >= self._next:
            frame = next(self._it)
            self._held[frame.index] = frame.image_rgb
            self._next = frame.index + 1
        return self._held[idx]

    def release_before(self, idx: int) -> None:
        for k in [k for k in self._held if k < idx]:
            del self._held[k]


def _run_together(run: Run, anchor_masks: dict[int, np.ndarray], window: _FrameWindow, backends,
                  tracker) -> dict[int, dict[int, PseudoMask]]:
    """Track and segment ``run.targets`` from the anchor's masks of every athlete sharing the run
    (synchronized pairs are corrected on the same frames): one tracker and one segmenter call per
    frame for all of them, so they split the pixels they both claim. Masks by athlete, then frame."""
    settings = backends.settings
    seg = backends.segmenter
    img = window.get(run.anchor)
    out: dict[int, dict[int, PseudoMask]] = {}
    prev: dict[int, np.ndarray] = {}
    for obj_id, mask in anchor_masks.items():
        seg.forget(obj_id)
        box = mask_box_xyxy(mask)
        if box is None:  # "nobody there" carries over up to the midpoint to the next anchor
            q = Quality(iou_prev=1.0, area_jump=0.0, empty=True)
            out[obj_id] = {idx: PseudoMask(mask_to_rle(mask), q) for idx in run.targets}
            continue
        tracker.start(img, obj_id, box)
        tracker.correct(obj_id, box)  # as after a segmented start frame: the tracker pads the mask's box
        seg.seed(obj_id, img, mask, run.anchor)
        prev[obj_id] = mask
        out[obj_id] = {}
    for idx in run.targets if prev else ():
        img = window.get(idx)
        boxes: dict[int, TrackedBox] = tracker.step(img)
        res = seg.segment([img], [{o: boxes[o].box_xyxy for o in prev}], [idx])[0]
        for obj_id in prev:
            out[obj_id][idx] = segmented_pseudo_mask(res[obj_id], prev[obj_id], boxes[obj_id], tracker, obj_id,
                                                     settings.thresholds)
            prev[obj_id] = res[obj_id].mask
    return out


def propagate_video(doc: VideoDoc, source, backends, *, obj_ids: Sequence[int] | None = None,
                    only_from: int | None = None) -> dict[tuple[int, int], PseudoMask]:
    """Re-propagated pseudo masks of one video, not yet written.

    Args:
        doc: the video's document (its corrections are the anchors).
        source: a :class:`~hmtools.video.VideoSource` yielding the document's frames.
        backends: a :class:`~hmtools.pseudo.backends.Backends` (any tracker and segmenter of the
            registries).
        obj_ids: athletes to propagate (default: every athlete with a correction).
        only_from: only the runs from this anchor, up to half-way to its neighbours (see
            :func:`anchor_plan`; the plan is not two-sided).

    Returns:
        ``{(frame_idx, obj_id): PseudoMask}`` with ``anchor`` set to the anchor's frame name.
    """
    from hmtools.errors import VideoError

    seg = backends.segmenter
    seg.reset()
    ids = list(obj_ids) if obj_ids is not None else doc.object_ids
    # From one anchor only (the editor), the neighbours' runs are not redone: each frame stays
    # with its nearer anchor, and there is no second run to vote.
    plans = {o: anchor_plan(doc, o, only_from, two_sided=only_from is None) for o in ids}
    plans = {o: p for o, p in plans.items() if p}
    out: dict[tuple[int, int], PseudoMask] = {}
    if not plans:
        return out
    if seg.wants_background:
        seg.prepare(f.image_rgb for f in source.frames())
    # Athletes with the same run (the same anchor frame and targets) go together; the runs are
    # sorted by the first frame they need, so one forward decoding pass serves them all (a frame
    # is released once no later run starts before it).
    together: dict[Run, list[int]] = {}
    for obj_id, obj_runs in plans.items():
        for run in obj_runs:
            together.setdefault(run, []).append(obj_id)
    window = _FrameWindow(source.frames())
    cands: dict[tuple[int, int], list[tuple[int, PseudoMask]]] = {}
    for run in sorted(together, key=lambda r: (min(r.anchor, *r.targets), r.anchor, r.targets)):
        window.release_before(min(run.anchor, *run.targets))
        anchor_masks = {o: rle_to_mask(doc.correction(run.anchor, o).rle).astype(bool) for o in together[run]}
        try:
            masks = _run_together(run, anchor_masks, window, backends, backends.new_tracker())
        except StopIteration:
            raise VideoError(f"{doc.video_id}: the video has fewer frames than its document "
                             f"({doc.n_frames})") from None
        name = doc.frames[run.anchor]
        for obj_id, by_frame in masks.items():
            for idx, pm in by_frame.items():
                cands.setdefault((idx, obj_id), []).append((abs(idx - run.anchor), PseudoMask(
                    pm.rle, pm.quality, pm.flag, anchor=name)))
    for (idx, obj_id), found in cands.items():
        best = choose_mask(found, doc.pseudo_mask(idx, obj_id))
        if best is not None:
            out[(idx, obj_id)] = best
    return keep_gone(doc, out)


GONE_SHARE = 0.25  # after the last anchor, a run's mask this small (vs the anchor's) keeps the producer's empty end


def keep_gone(doc: VideoDoc, masks: dict[tuple[int, int], PseudoMask]) -> dict[tuple[int, int], PseudoMask]:
    """``masks`` less the ones that would overwrite an athlete's end of clip with a splash.

    For each athlete whose last anchor holds a mask: the producer's own pseudo masks (``anchor``
    ``None``) that are empty from some frame after that anchor to the end of the clip, after a
    frame that held the athlete, stay so where the new mask is smaller than ``GONE_SHARE`` of the
    anchor's area (on synthetic seed 3 a run from a flight frame carried a 40-80 px splash over the
    last nine frames of a synchronized clip, where both divers were under water). A new mask as
    large as the athlete still replaces them (the producer lost the athlete too early).

    Example:
        >>> kept = keep_gone(doc, propagate_masks)   # {(frame_idx, obj_id): PseudoMask}  # doctest: +SKIP
    """
    drop: set[tuple[int, int]] = set()
    for obj_id in {o for _, o in masks}:
        anchors = anchors_of(doc, obj_id)
        last = anchors[-1] if anchors else None
        area = doc.correction(last, obj_id).rle.area if anchors else 0
        if not area:  # no anchor, or nobody there: the empty run carries over already
            continue
        gone = doc.n_frames
        while gone > last + 1:
            pm = doc.pseudo_mask(gone - 1, obj_id)
            if pm is None or pm.anchor is not None or pm.rle.area:
                break
            gone -= 1
        if not any((pm := doc.pseudo_mask(i, obj_id)) is not None and pm.rle.area for i in range(gone)):
            continue  # never had the athlete: nothing says it went under
        drop |= {(i, obj_id) for i in range(gone, doc.n_frames)
                 if (i, obj_id) in masks and masks[(i, obj_id)].rle.area < GONE_SHARE * area}
    return {k: v for k, v in masks.items() if k not in drop}


DISTANCE_PENALTY = 0.01  # score a candidate gives up per frame from its anchor (choose_mask)


def _confidence(pm: PseudoMask, dist: int = 0) -> float:
    return -math.inf if pm.quality.score is None else float(pm.quality.score) - DISTANCE_PENALTY * dist


def choose_mask(candidates: Sequence[tuple[int, PseudoMask]], stored: PseudoMask | None = None) -> PseudoMask | None:
    """One frame's mask from the runs that reached it: ``[(frames from the anchor, mask)]``;
    ``None`` means keep ``stored`` (the frame's current pseudo mask).

    * Two runs (a gap between two anchors) and a stored mask: the median of the three, the one
      that agrees best (sum of IoUs) with the other two. A run that drifted off the athlete is
      outvoted; keeping the stored mask is the vote of the previous round's anchors.
    * Otherwise the confidence decides: the segmenter's score (the seeded and classical
      segmenters' colour separation, SAM's predicted IoU) less ``DISTANCE_PENALTY`` per frame from
      the anchor (a run drifts); ties go to the nearer anchor. Before the first anchor the run
      replaces the producer's mask even where that one scores higher: the producer started from a
      box, the run from a whole mask, and the score (colour separation) rates a mask that took
      in the athlete's surroundings as well as the right one (on synthetic seeds 1-3 with
      keyframes on 5% of the frames, keeping the more confident one costs 0.01-0.04 mean IoU).

    Example:
        >>> a, b = PseudoMask(rle, Quality(score=0.9)), PseudoMask(rle, Quality(score=0.7))  # doctest: +SKIP
        >>> choose_mask([(5, a), (1, b)]) is a                                                # doctest: +SKIP
        True
    """
    from hmtools.rle import iou as rle_iou

    if len(candidates) == 2 and stored is not None:
        masks = [candidates[0][1], candidates[1][1], stored]
        agree = [sum(rle_iou(m.rle, o.rle) for o in masks if o is not m) for m in masks]
        dists = [candidates[0][0], candidates[1][0], math.inf]
        k = max(range(3), key=lambda j: (agree[j], -dists[j]))  # ties: the nearer run, then stored
        return None if k == 2 else masks[k]
    return min(candidates, key=lambda c: (-_confidence(c[1], c[0]), c[0]))[1]
