"""The review queue: which frames a person should check first, and why.

Frames are ranked by their *predicted badness*: the probability that the frame's effective mask
has IoU < 0.5 against the truth, from the calibrated model of :mod:`hmtools.review_model` (its
features: empty masks inside the clip versus after the entry, jumps against both neighbours, the
segmenter score, distance from the nearest anchor, ...; its weights in ``hmtools/review_model.json``,
refitted by ``benchmarks/calibrate_queue.py``). That probability is a frame's ``priority``. The
queue's order is by what correcting a frame is expected to *gain* (:mod:`hmtools.review_gain`):
its own badness plus that of the frames re-propagation will regenerate from it.

Within a frame, each (frame, object) pseudo mask gets *points* from its review flag and its quality
signals; they order the frame's objects and give the reasons shown to the reviewer (higher = look
sooner):

=====================  ==========================  =========================================
signal                 when                        points
=====================  ==========================  =========================================
``flag.review``        the producer flagged it     1.0, plus 0.5 per flag reason
empty mask             ``quality.empty`` / area 0  3.0
``score``              below 0.88 (SAM's cut)      ``2 * (0.88 - score) / 0.88``, at most 2
``stability``          below 0.95 (SAM's cut)      ``4 * (0.95 - stability)``, at most 2
``iou_prev``           below 0.8                   ``2.5 * (0.8 - iou_prev) / 0.8``
``area_jump``          above 0.3                   ``area_jump``, at most 2
``tracker_peak``       below 0.5                   ``2 * (0.5 - peak)``, at most 1
``border``             box touches the border      0.5
=====================  ==========================  =========================================

The thresholds are the ones other tools use to drop masks (see reference/pseudo-masks.md). The points
ranked the whole queue before the calibrated model; they put every empty mask first, including the
right ones after the entry. By default the queue holds flagged frames only (``include_unflagged`` ranks
every frame with a pseudo mask); objects that already have a correction drop out unless
``include_corrected``.

Example:
    >>> items = review_queue(MaskStore.open("data/store"))     # doctest: +SKIP
    >>> print(format_table(items[:10]))                         # doctest: +SKIP
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hmtools.atomic import atomic_open, atomic_savefig, make_dirs, removed_on_error
from hmtools.review_gain import gain_rank
from hmtools.review_model import QueueModel, frame_features, load_model
from hmtools.store import MaskStore, PseudoMask, VideoDoc


@dataclass(frozen=True)
class ObjectIssue:
    """Why one object's pseudo mask in one frame is in the queue (``priority``: its points)."""

    object_id: int
    priority: float
    reasons: tuple[str, ...]
    corrected: bool = False


@dataclass(frozen=True)
class ReviewItem:
    """One frame of the review queue.

    Attributes:
        priority: predicted probability that the frame is bad (:mod:`hmtools.review_model`).
        objects: the objects that put the frame in the queue, most points first.
    """

    video_id: str
    frame_idx: int
    frame_name: str
    action_type: str | None
    priority: float
    objects: tuple[ObjectIssue, ...]

    @property
    def reasons_text(self) -> str:
        """``"1: empty, score=0.41; 2: border"``."""
        return "; ".join(f"{o.object_id}: {', '.join(o.reasons) or '-'}" for o in self.objects)

    def to_row(self) -> dict:
        return {"video_id": self.video_id, "frame_idx": self.frame_idx, "frame": self.frame_name,
                "action_type": self.action_type or "", "priority": round(self.priority, 3),
                "objects": " ".join(str(o.object_id) for o in self.objects), "reasons": self.reasons_text}


@dataclass(frozen=True)
class StaleItem:
    """A correction whose pseudo mask changed after it was made."""

    video_id: str
    frame_idx: int
    frame_name: str
    object_id: int
    status: str
    by: str
    at: str
    pseudo_hash_then: str | None
    pseudo_hash_now: str | None

    def to_row(self) -> dict:
        return {"video_id": self.video_id, "frame_idx": self.frame_idx, "frame": self.frame_name,
                "object": self.object_id, "status": self.status, "by": self.by, "at": self.at,
                "pseudo_hash_then": self.pseudo_hash_then or "none", "pseudo_hash_now": self.pseudo_hash_now or "none"}


def object_priority(pm: PseudoMask) -> tuple[float, tuple[str, ...]]:
    """Priority points and reasons of one pseudo mask (see the module table).

    Example:
        >>> p, why = object_priority(PseudoMask(rle, Quality(score=0.44), Flag(True, ("low_score",))))  # doctest: +SKIP
        >>> round(p, 2), why                                                                           # doctest: +SKIP
        (2.5, ('low_score', 'score=0.44'))
    """
    q = pm.quality
    points = 0.0
    reasons: list[str] = []
    if pm.flag.review:
        points += 1.0 + 0.5 * len(pm.flag.reasons)
        reasons.extend(pm.flag.reasons)

    def add(value: float, text: str):
        nonlocal points
        if value > 0:
            points += value
            reasons.append(text)

    if q.empty or pm.rle.area == 0:
        add(3.0, "empty")
    if q.score is not None:
        add(min(2.0, 2 * (0.88 - q.score) / 0.88), f"score={q.score:.2f}")
    if q.stability is not None:
        add(min(2.0, 4 * (0.95 - q.stability)), f"stability={q.stability:.2f}")
    if q.iou_prev is not None:
        add(2.5 * (0.8 - q.iou_prev) / 0.8, f"iou_prev={q.iou_prev:.2f}")
    if q.area_jump is not None and q.area_jump > 0.3:
        add(min(2.0, q.area_jump), f"area_jump={q.area_jump:.2f}")
    if q.tracker_peak is not None:
        add(min(1.0, 2 * (0.5 - q.tracker_peak)), f"tracker_peak={q.tracker_peak:.2f}")
    if q.border:
        add(0.5, "border")
    # Keep each reason once (a flag reason may name the same signal).
    return points, tuple(dict.fromkeys(reasons))


def frame_items(doc: VideoDoc, *, include_corrected: bool = False, include_unflagged: bool = False,
                model: QueueModel | None = None, features: np.ndarray | None = None) -> list[ReviewItem]:
    """The queue entries of one document, in frame order (``model``: default the shipped record;
    ``features``: :func:`~hmtools.review_model.frame_features` of ``doc`` when already computed)."""
    model = model or load_model()
    p_bad = model.predict(frame_features(doc) if features is None else features)
    out = []
    for i, entry in enumerate(doc.pseudo):
        if not entry:
            continue
        corrected = doc.corrected.objects(i)
        issues = []
        for obj_id, pm in sorted(entry.items()):
            if obj_id in corrected and not include_corrected:
                continue
            if not (pm.flag.review or include_unflagged):
                continue
            points, reasons = object_priority(pm)
            issues.append(ObjectIssue(obj_id, points, reasons, obj_id in corrected))
        if issues:
            issues.sort(key=lambda o: (-o.priority, o.object_id))
            out.append(ReviewItem(doc.video_id, i, doc.frames[i], doc.action_type,
                                  float(p_bad[i]), tuple(issues)))
    return out


def rank(items: Iterable[ReviewItem]) -> list[ReviewItem]:
    """Worst first; ties by the points of the worst object, then video and frame (reproducible)."""
    return sorted(items, key=lambda it: (-it.priority, -it.objects[0].priority, it.video_id, it.frame_idx))


def review_queue(store: MaskStore, video_ids: Sequence[str] | None = None, *,
                 include_corrected: bool = False, include_unflagged: bool = False,
                 limit: int | None = None, model: QueueModel | None = None,
                 spread: bool = True) -> list[ReviewItem]:
    """The ranked review queue over a store (documents read one at a time).

    Args:
        model: the calibrated predictor (:func:`hmtools.review_model.load_model` by default).
        spread: rank by expected gain *given the frames above*: a frame counts for the frames
            re-propagation will regenerate from it, and each frame taken counts as an anchor for
            the ones after it, so its neighbours fall back (:func:`hmtools.review_gain.gain_rank`);
            ``False``: every frame by its own predicted badness (:func:`rank`).
    """
    from tqdm import tqdm

    ids = list(video_ids) if video_ids else store.video_ids()
    model = model or load_model()
    items: list[ReviewItem] = []
    features: dict[str, np.ndarray] = {}
    for doc in tqdm(store.iter_docs(ids), total=len(ids), desc="review", unit="video",
                    disable=len(ids) < 50, leave=False):
        x = frame_features(doc)
        if spread:
            features[doc.video_id] = x
        items.extend(frame_items(doc, include_corrected=include_corrected,
                                 include_unflagged=include_unflagged, model=model, features=x))
    items = gain_rank(items, features, model, limit) if spread else rank(items)
    return items[:limit] if limit else items


def stale_corrections(store: MaskStore, video_ids: Sequence[str] | None = None) -> list[StaleItem]:
    """Corrections whose pseudo mask has changed (or vanished) since they were made."""
    out = []
    for doc in store.iter_docs(list(video_ids) if video_ids else None):
        for i, obj_id in doc.stale_corrections():
            corr = doc.correction(i, obj_id)
            out.append(StaleItem(doc.video_id, i, doc.frames[i], obj_id, corr.status, corr.by, corr.at,
                                 corr.pseudo_hash, doc.pseudo_hash(i, obj_id)))
    return out


def write_csv(rows: Sequence[dict], path: str | Path) -> Path:
    """Write dict rows (same keys) as CSV; an empty list writes an empty file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", newline="", encoding="utf-8") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def format_table(rows: Sequence[dict], max_rows: int | None = None, max_width: int = 60) -> str:
    """Plain aligned text table of dict rows (long cells cut at ``max_width``)."""
    if not rows:
        return "(nothing)"
    shown = list(rows[:max_rows] if max_rows else rows)
    cols = list(shown[0])
    cells = [[_cut(str(r[c]), max_width) for c in cols] for r in shown]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    if len(rows) > len(shown):
        lines.append(f"... and {len(rows) - len(shown)} more")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def contact_sheet(store: MaskStore, items: Sequence[ReviewItem], out_png: str | Path, *,
                  frames_root: str | Path | None = None, cols: int = 6, tile_width: int = 320) -> Path:
    """A PNG grid of ``items`` (worst first): each frame with its pseudo masks tinted per object.

    A frame whose image cannot be found becomes a grey tile saying so (the sheet is still written).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from hmtools.errors import VideoError
    from hmtools.frames import FrameReader, overlay_rgb
    from hmtools.rle import rle_to_mask

    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    reader = FrameReader(frames_root)
    n = max(len(items), 1)
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    docs: dict[str, VideoDoc] = {}
    if items:
        docs[items[0].video_id] = store.read(items[0].video_id)
    h0, w0 = docs[items[0].video_id].size_hw if items else (3, 4)
    tile_h_in = tile_width / 100 * h0 / w0 + 0.45  # image plus two title lines
    fig, axes = plt.subplots(rows, cols, figsize=(cols * tile_width / 100, rows * tile_h_in), squeeze=False)
    if not items:
        axes.flat[0].text(0.5, 0.5, "nothing to review", ha="center", va="center")
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(items):
            continue
        it = items[k]
        doc = docs.get(it.video_id) or docs.setdefault(it.video_id, store.read(it.video_id))
        masks = {o: rle_to_mask(pm.rle) for o, pm in doc.pseudo.objects(it.frame_idx).items()}
        try:
            image = overlay_rgb(reader.read_rgb(doc, it.frame_idx), masks)
        except VideoError:
            h, w = doc.size_hw
            image = np.full((h, w, 3), 96, np.uint8)
            image[np.any(list(masks.values()), axis=0) if masks else np.zeros((h, w), bool)] = (255, 64, 64)
            ax.text(0.5, 0.5, "frame image not found", color="white", ha="center", transform=ax.transAxes)
        ax.imshow(image)
        ax.set_title(f"#{k + 1} {it.video_id} {it.frame_name}  p={it.priority:.2f}\n"
                     f"{_cut(it.reasons_text, 48)}", fontsize=7)
    reader.close()
    fig.tight_layout()
    atomic_savefig(fig, out_png, dpi=100)
    plt.close(fig)
    return out_png


@dataclass
class ReviewReport:
    """What ``hmtools review`` found and wrote."""

    items: list
    stale: bool
    csv_path: Path | None = None
    png_path: Path | None = None

    def rows(self) -> list[dict]:
        return [it.to_row() for it in self.items]


def run_review(store: MaskStore, *, video_ids: Sequence[str] | None = None, stale: bool = False,
               include_corrected: bool = False, include_unflagged: bool = False, limit: int | None = None,
               csv_path: str | Path | None = None, png_path: str | Path | None = None, sheet_n: int = 24,
               frames_root: str | Path | None = None) -> ReviewReport:
    """Everything ``hmtools review`` does: the queue (or the stale corrections), CSV and contact sheet."""
    if stale:
        items = stale_corrections(store, video_ids)
        items = items[:limit] if limit else items
    else:
        items = review_queue(store, video_ids, include_corrected=include_corrected,
                             include_unflagged=include_unflagged, limit=limit)
    report = ReviewReport(items, stale)
    png_path = None if stale else png_path
    with removed_on_error() as created:  # a failed write leaves no folder it made
        for path in (csv_path, png_path):
            if path:
                make_dirs(Path(path).parent, created)
        if csv_path:
            report.csv_path = write_csv(report.rows(), csv_path)
        if png_path:
            report.png_path = contact_sheet(store, items[:sheet_n], png_path, frames_root=frames_root)
    return report
