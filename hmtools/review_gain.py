"""Gain-aware order of the review queue: the frame whose correction fixes the most frames first.

A correction fixes its own frame and, through re-propagation (:mod:`hmtools.pseudo.propagate`),
the frames that will be regenerated from it: those nearer to it than to any anchor (a corrected
frame, or an athlete's first frame, where its prompt was). The expected *gain* of correcting frame
``j`` is the drop in the expected number of bad frames (IoU < 0.5):

    gain(j) = p_j + carry * sum over regenerated i != j of max(0, p_i - p'_i(|i - j|))

with ``p`` the calibrated predicted badness (:mod:`hmtools.review_model`) and ``p'_i(d)`` what the
same model predicts for a frame regenerated ``d`` frames from an anchor, knowing nothing yet of
its new mask: its mask features at the calibration's means, its ``anchor_dist`` ``log(1 + d)``,
its ``position`` kept. So a bad frame next to an anchor gains little (its neighbours are already
anchored), and a frame in the middle of a long run of bad frames gains a lot. Only frames within
``REACH_FRAMES`` of ``j`` count (the memory and time of a long video stay bounded). ``carry`` (the
record's :attr:`~hmtools.review_model.QueueModel.carry`) is how much of that predicted improvement
of its neighbours a correction is credited with: re-propagation does not always deliver it (a
regenerated frame is not an average one: a run can carry a wrong mask on, or fix little where the
segmenter was already right), so the record's calibration chooses it on simulated correction
loops (``benchmarks/calibrate_queue.py``).

The order is greedy: after each pick its frame counts as an anchor, the frames it will regenerate
take the neutral features, and the gains of its video are computed again (lazily, when one of
its items reaches the top). Each item's ``priority`` stays its own predicted badness at the time
it was taken.

Example:
    >>> items = gain_rank(items, {vid: frame_features(doc)}, load_model(), limit=20)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import heapq
from typing import Sequence

import numpy as np

from hmtools.review_model import FEATURES, QueueModel

REACH_FRAMES = 64  # frames on either side of a pick whose expected change counts towards its gain
KEPT = ("anchor_dist", "position")  # what a regenerated frame keeps of its features


def _neutral(model: QueueModel) -> tuple[list[int], np.ndarray]:
    cols = [FEATURES.index(f) for f in model.features if f not in KEPT]
    return cols, np.array([m for f, m in zip(model.features, model.mean) if f not in KEPT])


def frame_gains(model: QueueModel, x: np.ndarray, p: np.ndarray, dist: np.ndarray,
                candidates: Sequence[int]) -> np.ndarray:
    """Expected gain (see the module docstring) of correcting each of ``candidates``.

    Args:
        x: ``(n, len(FEATURES))`` the video's features now; p: ``(n,)`` predicted badness now
            (0 on corrected frames); dist: ``(n,)`` frames to the nearest anchor.

    Example:
        Three bad frames far from any anchor: each pick regenerates the other two, the middle one
        from nearer.
        >>> m = QueueModel(("anchor_dist",), (1.0,), (0.0,), (1.0,), -4.0)
        >>> x = np.zeros((3, len(FEATURES)))
        >>> g = frame_gains(m, x, np.array([0.9, 0.9, 0.9]), np.array([9.0, 10.0, 11.0]), [0, 1, 2])
        >>> [round(float(v), 2) for v in g]
        [2.61, 2.63, 2.61]
    """
    n = len(p)
    cols, neutral = _neutral(model)
    ad = FEATURES.index("anchor_dist")
    out = np.zeros(len(candidates))
    for k, j in enumerate(candidates):
        lo, hi = max(0, j - REACH_FRAMES), min(n, j + REACH_FRAMES + 1)
        i = np.arange(lo, hi)
        d = np.abs(i - j)
        i, d = i[(d < dist[lo:hi]) & (d > 0)], d[(d < dist[lo:hi]) & (d > 0)]
        gain = float(p[j])
        if len(i):
            rows = x[i].copy()
            rows[:, cols] = neutral
            rows[:, ad] = np.log1p(d)
            gain += model.carry * float(np.maximum(0.0, p[i] - model.predict(rows)).sum())
        out[k] = gain
    return out


def gain_rank(items: Sequence, features: dict[str, np.ndarray], model: QueueModel,
              limit: int | None = None) -> list:
    """Review items (:class:`~hmtools.review.ReviewItem`) in greedy order of expected gain.

    ``features``: each video's :func:`~hmtools.review_model.frame_features`, updated in place as
    picks become anchors. A model without ``anchor_dist`` cannot tell what a correction carries to
    its neighbours: the items are ordered by their own badness.
    """
    if "anchor_dist" not in model.features:
        return sorted(items, key=lambda it: (-it.priority, -it.objects[0].priority, it.video_id, it.frame_idx))[:limit]
    ad = FEATURES.index("anchor_dist")
    cols, neutral = _neutral(model)
    dist = {v: np.expm1(x[:, ad]) for v, x in features.items()}
    p = {v: model.predict(x) for v, x in features.items()}
    version = dict.fromkeys(features, 0)
    by_video: dict[str, list[int]] = {}
    for k, it in enumerate(items):
        by_video.setdefault(it.video_id, []).append(k)

    def push_video(heap, v):
        ks = by_video.get(v, [])
        gains = frame_gains(model, features[v], p[v], dist[v], [items[k].frame_idx for k in ks])
        for k, g in zip(ks, gains):
            it = items[k]
            heapq.heappush(heap, (-g, -it.objects[0].priority, it.video_id, it.frame_idx, version[v], k))

    heap: list = []
    for v in by_video:
        push_video(heap, v)
    out: list = []
    taken: set[int] = set()
    while heap and (limit is None or len(out) < limit):
        *_, ver, k = heapq.heappop(heap)
        it = items[k]
        v = it.video_id
        if k in taken or ver != version[v]:
            continue
        taken.add(k)
        j = it.frame_idx
        out.append(dataclasses.replace(it, priority=float(p[v][j])))
        d_new = np.abs(np.arange(len(dist[v])) - j)
        nearer = d_new < dist[v]
        # Re-propagation regenerates these frames from the pick: their current masks say nothing
        # about the new ones, so they take the calibration's mean features.
        features[v][np.ix_(nearer, cols)] = neutral
        dist[v] = np.minimum(dist[v], d_new)
        features[v][:, ad] = np.log1p(dist[v])
        done = p[v] == 0.0
        p[v] = model.predict(features[v])
        p[v][done] = 0.0
        p[v][j] = 0.0
        version[v] += 1
        by_video[v] = [q for q in by_video[v] if q not in taken]
        push_video(heap, v)
    return out
