"""Action-quality metrics: Spearman's rho and the relative L2 distance, overall and per action type.

* ``rho``: Spearman's rank correlation, :func:`scipy.stats.spearmanr` (ties get average ranks).
  ``nan`` when fewer than two samples or when either side is constant.
* ``rl2``: relative L2 distance, reported x100::

      R-L2 = 100 * mean_i ( (pred_i - true_i) / (max(true) - min(true)) ) ** 2

  The paper's Eq. 12 prints an absolute value without the square, but every public implementation
  (CoRe, TSA, FineParser) squares it; we report the squared reading so numbers are comparable with
  the paper's tables. ``max``/``min`` are taken over the ground truth of the set being scored
  (per action type for the breakdown); ``nan`` when that range is zero.

Example:
    >>> compute_metrics([1.0, 2.0, 3.0], [10.0, 20.0, 40.0]).rho
    1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


def spearman_rho(pred: Sequence[float], true: Sequence[float]) -> float:
    """Spearman's rank correlation of predictions and ground truth (``nan`` when undefined)."""
    pred, true = _pair(pred, true)
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(true) == 0:
        return math.nan
    from scipy.stats import spearmanr

    return float(spearmanr(pred, true).statistic)


def relative_l2(pred: Sequence[float], true: Sequence[float]) -> float:
    """Relative L2 distance x100 (squared reading, see the module docstring); ``nan`` if undefined."""
    pred, true = _pair(pred, true)
    if len(true) == 0 or np.ptp(true) == 0:
        return math.nan
    return float(100.0 * np.mean(((pred - true) / np.ptp(true)) ** 2))


@dataclass(frozen=True)
class GroupMetrics:
    """Metrics of one group of samples (all, or one action type)."""

    name: str
    n: int
    rho: float
    rl2: float
    mae: float

    def to_json(self) -> dict:
        return {"name": self.name, "n": self.n, "rho": _finite(self.rho), "rl2": _finite(self.rl2),
                "mae": _finite(self.mae)}


@dataclass(frozen=True)
class Metrics:
    """Overall metrics plus a per-action-type breakdown (sorted by action type)."""

    rho: float
    rl2: float
    mae: float
    n: int
    per_action: tuple[GroupMetrics, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        return {"rho": _finite(self.rho), "rl2": _finite(self.rl2), "mae": _finite(self.mae),
                "n": self.n, "per_action": [g.to_json() for g in self.per_action]}


def compute_metrics(pred: Sequence[float], true: Sequence[float],
                    action_types: Sequence[str] | None = None) -> Metrics:
    """rho, R-L2 (x100) and mean absolute error, overall and per action type when given."""
    pred, true = _pair(pred, true)
    groups: list[GroupMetrics] = []
    if action_types is not None:
        types = np.asarray([str(a) for a in action_types])
        if len(types) != len(pred):
            raise ValueError(f"compute_metrics: {len(types)} action types for {len(pred)} predictions")
        for name in sorted(set(types.tolist())):
            sel = types == name
            groups.append(GroupMetrics(name, int(sel.sum()), spearman_rho(pred[sel], true[sel]),
                                       relative_l2(pred[sel], true[sel]), _mae(pred[sel], true[sel])))
    return Metrics(spearman_rho(pred, true), relative_l2(pred, true), _mae(pred, true), len(pred),
                   tuple(groups))


def _mae(pred: np.ndarray, true: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - true))) if len(pred) else math.nan


def _pair(pred: Sequence[float], true: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).reshape(-1)
    t = np.asarray(true, dtype=np.float64).reshape(-1)
    if p.shape != t.shape:
        raise ValueError(f"metrics: {p.size} predictions but {t.size} ground-truth scores")
    return p, t


def _finite(x: float) -> float | None:
    """JSON has no NaN: undefined metrics are written as null."""
    return None if x is None or not math.isfinite(x) else float(x)


def attention_iou(attention, target, valid=None, threshold: float | None = None) -> float:
    """How well a SAP attention map finds the athlete: IoU of its thresholded cells with the mask.

    Args:
        attention: (..., H, W) attention A in [0, 1] (e.g. (B, N, T_s, H_s, W_s)).
        target: same shape, the mask at the attention's resolution (``M_gt``, the foreground
            fraction of each cell); a cell is foreground when ``target >= 0.5``.
        valid: (...) bool over the leading axes, maps to score (default: all).
        threshold: a cell is attended when ``A >= threshold``. ``None`` (default): per map, the
            ``k`` most attended cells, ``k`` the number of foreground cells (area-matched, so a
            model whose A was never calibrated by L_A is compared on where it looks, not on its
            scale).

    Returns:
        Mean IoU over the valid maps that have foreground (``nan`` when there are none). Arrays
        may be NumPy or torch.

    Example:
        >>> a = np.array([[[0.9, 0.1], [0.8, 0.2]]]); m = np.array([[[1.0, 0.0], [1.0, 0.0]]])
        >>> attention_iou(a, m)
        1.0
    """
    a = np.asarray(attention.detach().cpu() if hasattr(attention, "detach") else attention, np.float64)
    m = np.asarray(target.detach().cpu() if hasattr(target, "detach") else target, np.float64)
    if a.shape != m.shape or a.ndim < 2:
        raise ValueError(f"attention_iou: attention {a.shape} and target {m.shape} must be equal "
                         "shapes (..., H, W)")
    a, m = a.reshape(-1, a.shape[-2] * a.shape[-1]), m.reshape(-1, m.shape[-2] * m.shape[-1]) >= 0.5
    keep = m.any(axis=1)
    if valid is not None:
        v = np.asarray(valid.detach().cpu() if hasattr(valid, "detach") else valid, bool).reshape(-1)
        if v.shape[0] != a.shape[0]:
            raise ValueError(f"attention_iou: valid has {v.shape[0]} maps, attention {a.shape[0]}")
        keep &= v
    if not keep.any():
        return math.nan
    a, m = a[keep], m[keep]
    if threshold is None:
        k = m.sum(axis=1)
        order = np.argsort(-a, axis=1, kind="stable")
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(a.shape[1])[None].repeat(len(a), 0), axis=1)
        hit = ranks < k[:, None]
    else:
        hit = a >= threshold
    inter = (hit & m).sum(axis=1)
    union = (hit | m).sum(axis=1)
    return float(np.mean(inter / union))
