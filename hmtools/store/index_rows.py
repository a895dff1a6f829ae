"""Rows of the Parquet index for one document (see :mod:`hmtools.store.index` for the files).

:func:`doc_rows` turns a :class:`~hmtools.store.VideoDoc` into the column lists of
``masks.parquet`` (a row per frame, object and layer holding a mask) and ``frames.parquet`` (a row
per frame holding a mask in either layer); the effective-mask and stale rules come from the
document, so the index says what the tools say.
"""

from __future__ import annotations

from hmtools.rle import union

META_COLUMNS = ("dataset", "action_type", "split", "synchronized", "event")


def doc_rows(doc) -> tuple[dict, dict]:
    """Column lists (masks, frames) of one :class:`~hmtools.store.VideoDoc`.

    A frames row exists when at least one layer holds a mask for the frame; its ``area`` and
    ``fg_ratio`` are those of the effective mask (union over athletes of corrected-else-pseudo), its
    ``source`` is ``pseudo``, ``corrected`` or ``mixed`` (some athletes from each), and ``flagged`` is
    true when any pseudo mask of the frame is flagged for review.
    """
    h, w = doc.size_hw
    hw = float(h * w)
    meta = (doc.dataset, doc.action_type, doc.split, doc.synchronized, doc.event)
    m = {k: [] for k in ("video_id", "frame_idx", "frame_name", "object_id", "layer", "counts", "area",
                         "bbox_x", "bbox_y", "bbox_w", "bbox_h", "score", "review", "reasons",
                         "status", "stale")}
    f = {k: [] for k in ("video_id", "frame_idx", "frame_name", "n_objects", "area", "fg_ratio",
                         "source", "pseudo_area", "corrected_area", "flagged")}
    vid = doc.video_id
    for i, name in enumerate(doc.frames):
        pseudo = doc.pseudo.objects(i)
        corrected = doc.corrected.objects(i)
        if not pseudo and not corrected:
            continue
        for obj_id, pm in pseudo.items():
            _mask_row(m, vid, i, name, obj_id, "pseudo", pm.rle)
            m["score"].append(pm.quality.score)
            m["review"].append(pm.flag.review)
            m["reasons"].append(",".join(pm.flag.reasons) or None)
            m["status"].append(None)
            m["stale"].append(None)
        for obj_id, c in corrected.items():
            _mask_row(m, vid, i, name, obj_id, "corrected", c.rle)
            m["score"].append(None)
            m["review"].append(None)
            m["reasons"].append(None)
            m["status"].append(c.status)
            m["stale"].append(doc.is_stale(i, obj_id, c))
        objs = doc.effective_objects(i)
        layers = {layer for layer, _ in objs.values()}
        eff = _union_area([rle for _, rle in objs.values()])
        f["video_id"].append(vid)
        f["frame_idx"].append(i)
        f["frame_name"].append(name)
        f["n_objects"].append(len(objs))
        f["area"].append(eff)
        f["fg_ratio"].append(eff / hw if eff is not None else None)
        f["source"].append(("mixed" if len(layers) > 1 else layers.pop()) if layers else None)
        f["pseudo_area"].append(_union_area([pm.rle for pm in pseudo.values()]))
        f["corrected_area"].append(_union_area([c.rle for c in corrected.values()]))
        f["flagged"].append(any(pm.flag.review for pm in pseudo.values()))
    for cols in (m, f):
        n = len(cols["video_id"])
        cols["height"] = [h] * n
        cols["width"] = [w] * n
        for key, value in zip(META_COLUMNS, meta):
            cols[key] = [value] * n
    return m, f


def _union_area(rles: list) -> int | None:
    """Area of the union of a frame's masks (``None`` for no masks); merges only when needed."""
    if not rles:
        return None
    return rles[0].area if len(rles) == 1 else union(rles).area


def _mask_row(m: dict, vid: str, i: int, name: str, obj_id: int, layer: str, rle) -> None:
    m["video_id"].append(vid)
    m["frame_idx"].append(i)
    m["frame_name"].append(name)
    m["object_id"].append(obj_id)
    m["layer"].append(layer)
    m["counts"].append(rle.counts.encode("ascii"))
    m["area"].append(rle.area)
    x, y, bw, bh = rle.bbox_xywh
    m["bbox_x"].append(x)
    m["bbox_y"].append(y)
    m["bbox_w"].append(bw)
    m["bbox_h"].append(bh)
