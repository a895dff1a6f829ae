"""The review queue's predicted quality: how likely a frame's effective mask is bad (IoU < 0.5).

A logistic regression on a handful of per-frame features read from the store (no truth needed),
calibrated on the synthetic set where the exact masks are known (``benchmarks/calibrate_queue.py``
reruns it and rewrites the calibration record). The record, ``hmtools/review_model.json``, is the
one place for the weights, the feature scaling, the bad-IoU cut and the queue threshold; it also
keeps what it was fitted on and the precision/recall it reached.

Features of frame ``i`` (on the frame's effective mask, the union of its athletes, unless said):

=================  ==========================================================================
name               value
=================  ==========================================================================
``empty``          1 if the effective mask is empty
``empty_inside``   1 if it is empty but a later frame has a mask (a lost athlete, not the entry)
``part_empty``     share of the frame's athletes whose own mask is empty while another is not
``position``       ``i / (n - 1)``: where in the clip (the entry, with nobody visible, is late)
``low_score``      ``1 -`` the mean segmenter score of its uncorrected athletes (0 if none)
``prev_gap``       ``1 - IoU`` with the previous frame's effective mask (0 on the first frame)
``next_gap``       ``1 - IoU`` with the next frame's effective mask (0 on the last frame)
``area_dev``       ``|log((a + 1) / (m + 1))|``, ``m`` the clip's median non-empty area
``anchor_dist``    ``log(1 + d)``, ``d`` frames to the nearest anchor (a corrected frame, or an
                   athlete's first frame, where its prompt was)
``border``         1 if an athlete's box touches the image border
=================  ==========================================================================

Example:
    >>> model = load_model()                                   # doctest: +SKIP
    >>> p = model.predict(frame_features(store.read(vid)))     # (n_frames,) in [0, 1]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.rle import iou as rle_iou
from hmtools.store import VideoDoc

FEATURES = ("empty", "empty_inside", "part_empty", "position", "low_score", "prev_gap", "next_gap",
            "area_dev", "anchor_dist", "border")
MODEL_PATH = Path(__file__).with_name("review_model.json")


@dataclass(frozen=True)
class QueueModel:
    """A calibrated logistic model ``p(bad) = sigmoid(bias + w . (x - mean) / scale)``.

    Attributes:
        features: feature names, in the order of ``weights`` (a subset/permutation of ``FEATURES``).
        weights / mean / scale: one per feature; ``scale`` > 0.
        bias: intercept.
        bad_iou: a frame is bad below this IoU against the truth (what the model predicts).
        threshold: ``p`` from which a frame is worth a look (the default queue's cut).
        carry: the share of the expected improvement of the frames a correction regenerates that
            the queue's gain counts (:mod:`hmtools.review_gain`); 1 trusts the neutral-feature
            prediction fully, lower values weigh a frame's own badness more. Chosen by
            ``benchmarks/calibrate_queue.py`` on simulated correction loops of its clips.
        fitted_on: how it was calibrated (data, backend, seed) and what it reached.
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    bias: float
    bad_iou: float = 0.5
    threshold: float = 0.5
    carry: float = 1.0
    fitted_on: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.features)
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"QueueModel: unknown features {unknown}; expected names from {FEATURES}")
        if not (len(self.weights) == len(self.mean) == len(self.scale) == n):
            raise ValueError(f"QueueModel: {n} features need {n} weights, means and scales, got "
                             f"{len(self.weights)}, {len(self.mean)}, {len(self.scale)}")
        if any(not s > 0 for s in self.scale):
            raise ValueError(f"QueueModel: scales must be > 0, got {self.scale}")
        for name in ("bad_iou", "threshold", "carry"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"QueueModel.{name} must be in [0, 1], got {getattr(self, name)}")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(N, len(FEATURES))`` features -> ``(N,)`` probability that each frame is bad."""
        cols = [FEATURES.index(f) for f in self.features]
        z = (np.asarray(x, float)[:, cols] - np.asarray(self.mean)) / np.asarray(self.scale)
        return 1.0 / (1.0 + np.exp(-(self.bias + z @ np.asarray(self.weights))))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "QueueModel":
        return cls(tuple(d["features"]), tuple(d["weights"]), tuple(d["mean"]), tuple(d["scale"]),
                   float(d["bias"]), float(d.get("bad_iou", 0.5)), float(d.get("threshold", 0.5)),
                   float(d.get("carry", 1.0)), dict(d.get("fitted_on", {})))


def load_model(path: str | Path | None = None) -> QueueModel:
    """The calibration record (default: the one shipped beside this module)."""
    path = Path(path) if path else MODEL_PATH
    try:
        return QueueModel.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a review-queue calibration record ({e})") from e


def save_model(model: QueueModel, path: str | Path | None = None) -> Path:
    path = Path(path) if path else MODEL_PATH
    path.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
    return path


def frame_features(doc: VideoDoc) -> np.ndarray:
    """``(n_frames, len(FEATURES))`` features of every frame (see the module table); RLE only."""
    n = doc.n_frames
    out = np.zeros((n, len(FEATURES)))
    eff = [doc.effective(i) for i in range(n)]
    areas = np.array([0 if e is None else e.area for e in eff])
    nonempty = areas > 0
    median = float(np.median(areas[nonempty])) if nonempty.any() else 0.0
    last_seen = int(np.flatnonzero(nonempty)[-1]) if nonempty.any() else -1
    anchors = sorted({i for i in range(n) if doc.corrected.objects(i)} | _first_frames(doc))
    gaps = [1.0 - _iou(eff[i], eff[i + 1]) for i in range(n - 1)]
    col = {f: k for k, f in enumerate(FEATURES)}
    for i in range(n):
        row = out[i]
        row[col["empty"]] = float(areas[i] == 0)
        row[col["empty_inside"]] = float(areas[i] == 0 and i < last_seen)
        objs = doc.effective_objects(i)
        if areas[i] > 0 and objs:
            row[col["part_empty"]] = sum(r.area == 0 for _, r in objs.values()) / len(objs)
        row[col["position"]] = i / (n - 1) if n > 1 else 0.0
        corrected = doc.corrected.objects(i)
        scores = [pm.quality.score for o, pm in doc.pseudo.objects(i).items()
                  if o not in corrected and pm.quality.score is not None]
        row[col["low_score"]] = 1.0 - float(np.mean(scores)) if scores else 0.0
        row[col["prev_gap"]] = gaps[i - 1] if i > 0 else 0.0
        row[col["next_gap"]] = gaps[i] if i < n - 1 else 0.0
        row[col["area_dev"]] = abs(math.log((areas[i] + 1) / (median + 1)))
        d = min((abs(i - a) for a in anchors), default=n)
        row[col["anchor_dist"]] = math.log1p(d)
        row[col["border"]] = float(any(pm.quality.border for o, pm in doc.pseudo.objects(i).items()
                                       if o not in corrected))
    return out


def _first_frames(doc: VideoDoc) -> set[int]:
    firsts: dict[int, int] = {}
    for i, obj_id, _ in doc.pseudo.items():
        firsts.setdefault(obj_id, i)
    return set(firsts.values())


def _iou(a, b) -> float:
    if a is None and b is None:
        return 1.0
    if a is None or b is None:
        return 0.0 if (a or b).area else 1.0
    return rle_iou(a, b)


def fit_logistic(x: np.ndarray, y: np.ndarray, *, l2: float = 1e-2, iters: int = 50,
                 features: Sequence[str] = FEATURES) -> QueueModel:
    """Fit :class:`QueueModel` by Newton's method (L2 on the weights, not the bias).

    Args:
        x: ``(N, len(FEATURES))`` features; y: ``(N,)`` 1 = bad, 0 = good.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if x.ndim != 2 or x.shape != (len(y), len(FEATURES)):
        raise ValueError(f"fit_logistic: x must be (N, {len(FEATURES)}) with N = len(y) = {len(y)}, got {x.shape}")
    cols = [FEATURES.index(f) for f in features]
    mean = x[:, cols].mean(0)
    scale = x[:, cols].std(0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([np.ones((len(y), 1)), (x[:, cols] - mean) / scale])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2 * len(y))
    reg[0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return QueueModel(tuple(features), tuple(float(v) for v in w[1:]), tuple(float(v) for v in mean),
                      tuple(float(v) for v in scale), float(w[0]))


def precision_recall_at(p: np.ndarray, bad: np.ndarray, budgets: Sequence[float]) -> list[tuple[float, int, float, float]]:
    """``[(budget %, frames reviewed, precision, recall)]`` of reviewing the top ``budget %`` by ``p``.

    Ties are broken by position (stable sort), so a constant ``p`` is the frame order.

    Example:
        >>> precision_recall_at(np.array([0.9, 0.1, 0.8, 0.2]), np.array([1, 0, 0, 1]), [50])
        [(50, 2, 0.5, 0.5)]
    """
    p = np.asarray(p, float)
    bad = np.asarray(bad, bool)
    order = np.argsort(-p, kind="stable")
    out = []
    for b in budgets:
        k = max(1, int(round(b / 100 * len(p))))
        hits = int(bad[order[:k]].sum())
        out.append((b, k, hits / k, hits / max(int(bad.sum()), 1)))
    return out
