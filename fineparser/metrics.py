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
