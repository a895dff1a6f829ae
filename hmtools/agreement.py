"""Agreement between the pseudo masks and the human corrections, per video and per action type.

For every frame with at least one correction (a *reviewed* frame) the corrected frame mask is the
frame's effective mask (corrected objects, pseudo masks for objects nobody touched; union over
athletes, the paper's counting), and it is compared with the union of the frame's pseudo masks:

* ``iou``: intersection over union (1.0 when both are empty);
* ``boundary_f``: the boundary F-score (DAVIS-style): boundary pixels are mask pixels with a
  background 8-neighbour inside the image (the image edge is not a boundary); a boundary pixel of
  one mask matches when a boundary pixel of the other lies within ``tolerance_px`` (Euclidean,
  default 2 px); F = 2PR / (P + R); 1.0 when both masks have no boundary, 0.0 when only one has;
* ``changed``: the effective mask differs from the pseudo mask in at least one pixel.

Per video: ``n_frames``, ``n_reviewed`` (frames with a correction), ``n_compared`` (reviewed frames
that also have a pseudo mask: the ones IoU/F are averaged over), ``mean_iou``, ``mean_boundary_f``,
``n_changed`` and ``changed_share = n_changed / n_reviewed`` ("share of frames corrected").
Action types pool their videos' frames (frame-weighted means); the ``ALL`` row pools everything.

Example:
    >>> report = agreement_report(MaskStore.open("data/store"))   # doctest: +SKIP
    >>> print(format_table(report.action_rows()))                 # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.atomic import atomic_savefig
from hmtools.rle import iou, rle_to_mask
from hmtools.store import MaskStore, VideoDoc


def boundary(mask: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: mask pixels with a background 8-neighbour (pixels outside the image don't count)."""
    import cv2

    m = mask.astype(np.uint8)
    eroded = cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    return (m > 0) & (eroded == 0)


def boundary_f_score(a: np.ndarray, b: np.ndarray, tolerance_px: float = 2.0) -> float:
    """Boundary F-score of two ``(H, W)`` masks (see the module doc).

    Example:
        >>> a = np.zeros((10, 10), bool); a[2:6, 2:6] = True
        >>> boundary_f_score(a, np.roll(a, 1, axis=1), tolerance_px=0)
        0.5
    """
    import cv2

    ba, bb = boundary(a), boundary(b)
    na, nb = int(ba.sum()), int(bb.sum())
    if na == 0 and nb == 0:
        return 1.0
    if na == 0 or nb == 0:
        return 0.0
    # Distance from every pixel to the nearest boundary pixel of the other mask.
    dist_to_b = cv2.distanceTransform((~bb).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dist_to_a = cv2.distanceTransform((~ba).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    eps = 1e-6
    precision = float((dist_to_b[ba] <= tolerance_px + eps).mean())
    recall = float((dist_to_a[bb] <= tolerance_px + eps).mean())
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass
class AgreementRow:
    """Counts and sums for one video, one action type or everything."""

    name: str
    action_type: str
    n_videos: int = 0
    n_frames: int = 0
    n_reviewed: int = 0
    n_compared: int = 0
    n_changed: int = 0
    sum_iou: float = 0.0
    sum_boundary_f: float = 0.0

    def add(self, other: "AgreementRow") -> None:
        self.n_videos += other.n_videos
        for k in ("n_frames", "n_reviewed", "n_compared", "n_changed", "sum_iou", "sum_boundary_f"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @property
    def mean_iou(self) -> float:
        return self.sum_iou / self.n_compared if self.n_compared else float("nan")

    @property
    def mean_boundary_f(self) -> float:
        return self.sum_boundary_f / self.n_compared if self.n_compared else float("nan")

    @property
    def changed_share(self) -> float:
        return self.n_changed / self.n_reviewed if self.n_reviewed else float("nan")

    def to_row(self, level: str) -> dict:
        return {"level": level, "name": self.name, "action_type": self.action_type, "videos": self.n_videos,
                "frames": self.n_frames, "reviewed": self.n_reviewed, "compared": self.n_compared,
                "mean_iou": _r(self.mean_iou), "mean_boundary_f": _r(self.mean_boundary_f),
                "changed": self.n_changed, "changed_share": _r(self.changed_share)}


def _r(x: float) -> float | str:
    return "" if x != x else round(x, 4)


def video_agreement(doc: VideoDoc, tolerance_px: float = 2.0) -> AgreementRow:
    """Agreement of one document (dense masks one frame at a time)."""
    row = AgreementRow(doc.video_id, doc.action_type or "unknown", n_videos=1, n_frames=doc.n_frames)
    for i, entry in enumerate(doc.corrected):
        if not entry:
            continue
        row.n_reviewed += 1
        eff = doc.effective(i)
        pseudo = doc.layer_mask("pseudo", i)
        if pseudo is None:
            row.n_changed += 1
            continue
        row.n_compared += 1
        row.n_changed += int(eff.counts != pseudo.counts)
        row.sum_iou += iou(pseudo, eff)
        row.sum_boundary_f += (1.0 if eff.counts == pseudo.counts else
                               boundary_f_score(rle_to_mask(pseudo), rle_to_mask(eff), tolerance_px))
    return row


@dataclass
class AgreementReport:
    """Per-video rows, and the pooled rows per action type and overall."""

    videos: list = field(default_factory=list)
    tolerance_px: float = 2.0

    def action_rows(self) -> list[AgreementRow]:
        groups: dict[str, AgreementRow] = {}
        for v in self.videos:
            groups.setdefault(v.action_type, AgreementRow(v.action_type, v.action_type)).add(v)
        return [groups[k] for k in sorted(groups)]

    def total(self) -> AgreementRow:
        t = AgreementRow("ALL", "ALL")
        for v in self.videos:
            t.add(v)
        return t

    def rows(self, by: str = "action_type") -> list[dict]:
        """Table rows: per action type (default) or per video, then ``ALL``."""
        body = self.videos if by == "video" else self.action_rows()
        return [r.to_row(by) for r in body] + [self.total().to_row("all")]

    def all_rows(self) -> list[dict]:
        """Videos, action types and ALL (the CSV)."""
        return ([v.to_row("video") for v in self.videos] + [a.to_row("action_type") for a in self.action_rows()]
                + [self.total().to_row("all")])


def agreement_report(store: MaskStore, video_ids: Sequence[str] | None = None,
                     tolerance_px: float = 2.0) -> AgreementReport:
    """Agreement over a store (documents read one at a time, with a progress bar on big stores)."""
    from tqdm import tqdm

    ids = list(video_ids) if video_ids else store.video_ids()
    report = AgreementReport(tolerance_px=tolerance_px)
    for doc in tqdm(store.iter_docs(ids), total=len(ids), desc="agreement", unit="video",
                    disable=len(ids) < 50, leave=False):
        report.videos.append(video_agreement(doc, tolerance_px))
    return report


def agreement_png(report: AgreementReport, out_png: str | Path) -> Path:
    """Bar charts per action type: mean IoU and boundary F, and the share of reviewed frames changed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    rows = [r for r in report.action_rows() if r.n_reviewed] + [report.total()]
    names = [r.name for r in rows]
    x = np.arange(len(rows))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(6.0, 0.5 * len(rows) + 2), 6), sharex=True)
    ax1.bar(x - 0.2, [np.nan_to_num(r.mean_iou) for r in rows], 0.4, label="mean IoU")
    ax1.bar(x + 0.2, [np.nan_to_num(r.mean_boundary_f) for r in rows], 0.4,
            label=f"boundary F ({report.tolerance_px:g} px)")
    ax1.set_ylim(0, 1.05)
    ax1.set_ylabel("pseudo vs corrected")
    ax1.legend(loc="lower right", fontsize=8)
    ax2.bar(x, [np.nan_to_num(r.changed_share) for r in rows], 0.6, color="tab:red")
    for xi, r in zip(x, rows):
        ax2.text(xi, np.nan_to_num(r.changed_share) + 0.02, f"{r.n_changed}/{r.n_reviewed}", ha="center", fontsize=7)
    ax2.set_ylim(0, 1.15)
    ax2.set_ylabel("share of reviewed\nframes changed")
    ax2.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.suptitle("Pseudo masks vs corrections per action type")
    fig.tight_layout()
    atomic_savefig(fig, out_png, dpi=100)
    plt.close(fig)
    return out_png


def run_agreement(store: MaskStore, *, video_ids: Sequence[str] | None = None, tolerance_px: float = 2.0,
                  png_path: str | Path | None = None, csv_path: str | Path | None = None) -> AgreementReport:
    """Everything ``hmtools agreement`` does: the report, and optionally its CSV and PNG."""
    from hmtools.review import write_csv

    report = agreement_report(store, video_ids, tolerance_px)
    if csv_path:
        write_csv(report.all_rows(), csv_path)
    if png_path:
        agreement_png(report, png_path)
    return report
