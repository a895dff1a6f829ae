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

Two backends side by side (``hmtools agreement --store A --against B``): each backend writes its own
store (``pseudo-mask --store A --tracker ostrack --segmenter sam``, ``pseudo-mask --store B --tracker
sam2``; no format change), and the pseudo layers of the videos in both are compared frame by frame
(:func:`layers_agreement`): the same IoU and boundary F on the union of a frame's athletes, over the
frames where either store has a pseudo mask (``masked``); a frame masked in one store only counts as
differing and is not averaged; ``differ`` counts the frames whose masks are not identical.

Example:
    >>> report = agreement_report(MaskStore.open("data/store"))   # doctest: +SKIP
    >>> print(format_table(report.action_rows()))                 # doctest: +SKIP
    >>> pair = agreement_report(MaskStore.open("stores/sam"), against=MaskStore.open("stores/sam2"))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.atomic import atomic_savefig, make_dirs, removed_on_error
from hmtools.errors import StoreError
from hmtools.rle import iou, rle_to_mask
from hmtools.store import MaskStore, VideoDoc

# Column names of a pseudo-vs-pseudo comparison where they differ from pseudo-vs-corrected.
PAIR_COLUMNS = {"reviewed": "masked", "changed": "differ", "changed_share": "differ_share"}


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

    def to_row(self, level: str, columns: dict[str, str] | None = None) -> dict:
        """A table row; ``columns`` renames keys (:data:`PAIR_COLUMNS` for two pseudo layers)."""
        row = {"level": level, "name": self.name, "action_type": self.action_type, "videos": self.n_videos,
               "frames": self.n_frames, "reviewed": self.n_reviewed, "compared": self.n_compared,
               "mean_iou": _r(self.mean_iou), "mean_boundary_f": _r(self.mean_boundary_f),
               "changed": self.n_changed, "changed_share": _r(self.changed_share)}
        return {(columns or {}).get(k, k): v for k, v in row.items()}

    def compare(self, a, b, tolerance_px: float) -> None:
        """Count one frame whose masks ``a`` and ``b`` (RLE, ``None`` = none) are compared."""
        self.n_reviewed += 1
        if a is None or b is None:
            self.n_changed += 1
            return
        self.n_compared += 1
        same = a.counts == b.counts
        self.n_changed += int(not same)
        self.sum_iou += iou(a, b)
        self.sum_boundary_f += 1.0 if same else boundary_f_score(rle_to_mask(a), rle_to_mask(b), tolerance_px)


def _r(x: float) -> float | str:
    return "" if x != x else round(x, 4)


def video_agreement(doc: VideoDoc, tolerance_px: float = 2.0) -> AgreementRow:
    """Agreement of one document (dense masks one frame at a time)."""
    row = AgreementRow(doc.video_id, doc.action_type or "unknown", n_videos=1, n_frames=doc.n_frames)
    for i, entry in enumerate(doc.corrected):
        if entry:
            row.compare(doc.layer_mask("pseudo", i), doc.effective(i), tolerance_px)
    return row


def layers_agreement(doc: VideoDoc, other: VideoDoc, tolerance_px: float = 2.0) -> AgreementRow:
    """The pseudo layer of ``doc`` vs that of ``other``, the same video from another backend's store.

    Raises:
        StoreError: the two documents do not hold the same frames (names and size).
    """
    if tuple(doc.frames) != tuple(other.frames) or tuple(doc.size_hw) != tuple(other.size_hw):
        raise StoreError(f"video {doc.video_id}: the two stores hold different frames ({doc.n_frames} at "
                         f"{doc.size_hw[1]}x{doc.size_hw[0]} vs {other.n_frames} at "
                         f"{other.size_hw[1]}x{other.size_hw[0]})")
    row = AgreementRow(doc.video_id, doc.action_type or other.action_type or "unknown", n_videos=1,
                       n_frames=doc.n_frames)
    for i in range(doc.n_frames):
        a, b = doc.layer_mask("pseudo", i), other.layer_mask("pseudo", i)
        if a is not None or b is not None:
            row.compare(a, b, tolerance_px)
    return row


@dataclass
class AgreementReport:
    """Per-video rows, and the pooled rows per action type and overall."""

    videos: list = field(default_factory=list)
    tolerance_px: float = 2.0
    labels: tuple[str, str] | None = None  # two pseudo layers: the backends of each side
    only_in: dict[str, list[str]] = field(default_factory=dict)  # side label -> videos missing in the other

    @property
    def columns(self) -> dict[str, str] | None:
        return PAIR_COLUMNS if self.labels else None

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
        return [r.to_row(by, self.columns) for r in body] + [self.total().to_row("all", self.columns)]

    def all_rows(self) -> list[dict]:
        """Videos, action types and ALL (the CSV)."""
        c = self.columns
        return ([v.to_row("video", c) for v in self.videos] + [a.to_row("action_type", c) for a in self.action_rows()]
                + [self.total().to_row("all", c)])


def _label(backends: set[str], store: MaskStore) -> str:
    """The producers' backends of a store's compared videos (``"ostrack+sam"``, ``"sam2"``), or
    the store's folder name when none recorded one."""
    return "/".join(sorted(backends)) if backends else Path(store.root).name


def agreement_report(store: MaskStore, video_ids: Sequence[str] | None = None,
                     tolerance_px: float = 2.0, against: MaskStore | None = None) -> AgreementReport:
    """Agreement over a store (documents read one at a time, with a progress bar on big stores):
    pseudo vs corrected, or with ``against`` the pseudo layers of the videos both stores hold."""
    from tqdm import tqdm

    ids = list(video_ids) if video_ids else store.video_ids()
    report = AgreementReport(tolerance_px=tolerance_px)
    if against is not None:
        common = [v for v in ids if v in store and v in against]
        theirs = [] if video_ids else [v for v in against.video_ids() if v not in set(ids)]
        report.only_in = {str(store.root): sorted(set(ids) - set(common)), str(against.root): theirs}
        ids = common
    backends: tuple[set, set] = (set(), set())
    for doc in tqdm(store.iter_docs(ids), total=len(ids), desc="agreement", unit="video",
                    disable=len(ids) < 50, leave=False):
        if against is None:
            report.videos.append(video_agreement(doc, tolerance_px))
            continue
        other = against.read(doc.video_id)
        for seen, d in zip(backends, (doc, other)):
            seen.update([d.producer.backend] if d.producer else [])
        report.videos.append(layers_agreement(doc, other, tolerance_px))
    if against is not None:
        report.labels = (_label(backends[0], store), _label(backends[1], against))
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
    pair = " vs ".join(report.labels) if report.labels else None
    ax1.set_ylabel(pair.replace(" vs ", "\nvs ") if pair else "pseudo vs corrected")
    ax1.legend(loc="lower right", fontsize=8)
    ax2.bar(x, [np.nan_to_num(r.changed_share) for r in rows], 0.6, color="tab:red")
    for xi, r in zip(x, rows):
        ax2.text(xi, np.nan_to_num(r.changed_share) + 0.02, f"{r.n_changed}/{r.n_reviewed}", ha="center", fontsize=7)
    ax2.set_ylim(0, 1.15)
    ax2.set_ylabel("share of masked\nframes differing" if pair else "share of reviewed\nframes changed")
    ax2.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.suptitle(f"Pseudo masks per action type: {pair}" if pair else "Pseudo masks vs corrections per action type")
    fig.tight_layout()
    atomic_savefig(fig, out_png, dpi=100)
    plt.close(fig)
    return out_png


def run_agreement(store: MaskStore, *, video_ids: Sequence[str] | None = None, tolerance_px: float = 2.0,
                  png_path: str | Path | None = None, csv_path: str | Path | None = None,
                  against: MaskStore | None = None) -> AgreementReport:
    """Everything ``hmtools agreement`` does: the report, and optionally its CSV and PNG."""
    from hmtools.review import write_csv

    report = agreement_report(store, video_ids, tolerance_px, against=against)
    with removed_on_error() as created:  # a failed write leaves no folder it made
        for path in (csv_path, png_path):
            if path:
                make_dirs(Path(path).parent, created)
        if csv_path:
            write_csv(report.all_rows(), csv_path)
        if png_path:
            agreement_png(report, png_path)
    return report
