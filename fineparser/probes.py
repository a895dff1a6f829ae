"""Reference readers for the learnability ladder (``benchmarks/bench_learning.py``).

They bracket what the trained model achieves on a dataset: the Delta = 0 exemplar baseline
(what voting alone gives), a ridge probe on crude shape statistics of the athlete's masks (how
much the masks say), and, on the synthetic set, a ridge fit on the plan's own scored features
(the ceiling). None of them is a model of the paper; they tell where the signal is lost.

Example:
    >>> x = mask_shape_features(masks, transitions)              # (5,) per clip  # doctest: +SKIP
    >>> pred = ridge_fit_predict(x_train, y_train, x_test)                        # doctest: +SKIP
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MASK_FEATURES = ("compactness", "aspect_mean", "aspect_std", "area", "entry_angle")


def ridge_fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                      lam: float = 1.0) -> np.ndarray:
    """Ridge regression on standardised features (statistics of the training rows only).

    Args:
        x_train: (n, d) features; y_train: (n,) targets; x_test: (m, d).
        lam: L2 penalty on the standardised weights (the intercept is not penalised).

    Example:
        >>> ridge_fit_predict(np.array([[0.], [1.], [2.]]), np.array([0., 2., 4.]), np.array([[3.]]), 1e-9)
        array([6.])
    """
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    y_train = np.asarray(y_train, np.float64)
    if x_train.ndim != 2 or x_test.ndim != 2 or x_train.shape[1] != x_test.shape[1] \
            or len(x_train) != len(y_train) or len(x_train) < 2:
        raise ValueError(f"ridge_fit_predict: expected (n, d), (n,), (m, d) with n >= 2, got "
                         f"{x_train.shape}, {y_train.shape}, {x_test.shape}")
    mu, sd = x_train.mean(0), x_train.std(0)
    sd[sd == 0] = 1.0
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    y_mu = y_train.mean()
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y_train - y_mu))
    return b @ w + y_mu


def mask_shape_features(masks: np.ndarray, transitions: Sequence[int]) -> np.ndarray:
    """Five shape statistics of one clip's athlete masks (``MASK_FEATURES``).

    Flight is the frames between the first and the last step transition: mean compactness
    (mask area / box area), mean and standard deviation of the box aspect ratio (height /
    width); mean area as a fraction of the frame over all frames with a mask; mean absolute
    principal-axis angle from vertical (degrees) over the 4 frames before the last transition.

    Args:
        masks: (F, H, W) bool/0-1 masks of the clip's frames, in order.
        transitions: clip frame indices where a step starts (two or more).

    Example:
        >>> m = np.zeros((6, 8, 8), bool); m[:, 2:6, 3:5] = True
        >>> mask_shape_features(m, (1, 5)).round(3).tolist()
        [1.0, 2.0, 0.0, 0.125, 0.0]
    """
    masks = np.asarray(masks).astype(bool)
    if masks.ndim != 3 or len(transitions) < 2:
        raise ValueError(f"mask_shape_features: expected (F, H, W) masks and two transitions, got "
                         f"{masks.shape} and {tuple(transitions)}")
    f, h, w = masks.shape
    t1, t2 = int(transitions[0]), int(transitions[-1])
    compact, aspect, area, angle = [], [], [], []
    for i in range(f):
        ys, xs = np.nonzero(masks[i])
        if len(xs) == 0:
            continue
        area.append(len(xs) / (h * w))
        bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        if t1 <= i < t2:
            compact.append(len(xs) / (bh * bw))
            aspect.append(bh / bw)
        if t2 - 4 <= i < t2 and len(xs) > 1:
            cov = np.cov(np.stack([xs, ys]).astype(np.float64))
            vals, vecs = np.linalg.eigh(cov)
            vx, vy = vecs[:, -1]
            angle.append(np.degrees(np.arctan2(abs(vx), abs(vy))))
    nan = float("nan")
    return np.array([np.mean(compact) if compact else nan, np.mean(aspect) if aspect else nan,
                     np.std(aspect) if aspect else nan, np.mean(area) if area else nan,
                     np.mean(angle) if angle else nan])


def exemplar_baseline(scores: np.ndarray, plan: dict[int, list[int]], rows: Sequence[int]) -> np.ndarray:
    """Eq. 10 with every Delta = 0: each query's prediction is the mean score of its exemplars.

    Example:
        >>> exemplar_baseline(np.array([10., 20., 30.]), {0: [1, 2]}, [0])
        array([25.])
    """
    scores = np.asarray(scores, np.float64)
    return np.array([scores[plan[r]].mean() if plan[r] else np.nan for r in rows])
