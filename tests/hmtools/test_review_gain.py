"""Gain-aware order of the review queue (hmtools.review_gain)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hmtools.review import ObjectIssue, ReviewItem
from hmtools.review_gain import REACH_FRAMES, frame_gains, gain_rank
from hmtools.review_model import FEATURES, QueueModel

# p(bad) grows with the distance from the nearest anchor only: a regenerated frame d frames from
# its anchor is predicted sigmoid(-4 + log(1 + d)): 0.035 at 1 frame, 0.052 at 2.
DIST = QueueModel(("anchor_dist",), (1.0,), (0.0,), (1.0,), -4.0)


def _x(dist):
    x = np.zeros((len(dist), len(FEATURES)))
    x[:, FEATURES.index("anchor_dist")] = np.log1p(dist)
    return x


@pytest.mark.parametrize("p, dist, expected", [
    # two bad frames next to anchors, a good one between: the good one regenerates neither
    # (each is nearer its own anchor); a bad one regenerates the good one only
    ([0.9, 0.1, 0.9], [1, 10, 1], [0.9 + 0.065, 0.1, 0.9 + 0.065]),
    # three bad frames far from anchors: each regenerates the other two, the middle from nearer
    ([0.9, 0.9, 0.9], [9, 10, 11], [0.9 + 0.865 + 0.848, 0.9 + 2 * 0.865, 0.9 + 0.865 + 0.848]),
    ([0.01, 0.01], [5, 5], [0.01, 0.01]),  # better than a regenerated frame: no gain from it
])
def test_frame_gains(p, dist, expected):
    got = frame_gains(DIST, _x(np.array(dist, float)), np.array(p), np.array(dist, float), range(len(p)))
    assert got == pytest.approx(expected, abs=2e-3)


@pytest.mark.parametrize("carry, expected", [
    (1.0, [0.9 + 0.865 + 0.848, 0.9 + 2 * 0.865]),
    (0.5, [0.9 + 0.5 * (0.865 + 0.848), 0.9 + 0.865]),  # half the neighbours' predicted improvement
    (0.0, [0.9, 0.9]),  # own badness only
])
def test_frame_gains_credit_carry_of_the_neighbours(carry, expected):
    dist = np.array([9, 10, 11], float)
    got = frame_gains(dataclasses.replace(DIST, carry=carry), _x(dist), np.full(3, 0.9), dist, [0, 1])
    assert got == pytest.approx(expected, abs=2e-3)


def test_reach_bounds_the_frames_counted():
    n = 3 * REACH_FRAMES
    dist = np.arange(1, n + 1, dtype=float)  # an anchor just before frame 0
    got = frame_gains(DIST, _x(dist), np.full(n, 0.5), dist, [n - 1])[0]
    gains = [max(0.0, 0.5 - 1 / (1 + np.exp(4 - np.log1p(d)))) for d in range(1, REACH_FRAMES + 1)]
    assert got == pytest.approx(0.5 + sum(gains))


def _items(vid, n):
    return [ReviewItem(vid, i, f"{i:05d}.jpg", None, 0.0, (ObjectIssue(1, 1.0, ()),)) for i in range(n)]


def test_gain_rank_spreads_picks_and_reranks_after_each():
    # one video of 21 frames, all bad, its only anchor the first frame: the first pick sits in the
    # far part, each next one in the middle of the longest stretch left
    n = 21
    dist = np.arange(n, dtype=float)
    order = [it.frame_idx for it in gain_rank(_items("v", n), {"v": _x(dist)}, DIST, limit=3)]
    assert order[0] > n // 2 and len(set(order)) == 3
    gaps = np.diff(sorted([0, *order]))
    assert gaps.min() >= 3  # no pick next to another


def test_gain_rank_without_anchor_dist_sorts_by_badness():
    m = QueueModel(("empty",), (1.0,), (0.0,), (1.0,), 0.0)
    items = [ReviewItem("v", i, str(i), None, p, (ObjectIssue(1, 1.0, ()),)) for i, p in enumerate([0.2, 0.9, 0.5])]
    assert [it.frame_idx for it in gain_rank(items, {"v": np.zeros((3, len(FEATURES)))}, m)] == [1, 2, 0]
