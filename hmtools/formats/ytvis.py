"""Mask store -> YouTube-VIS JSON (``hmtools export-ytvis``).

YouTube-VIS / OVIS layout: top-level ``videos``, ``annotations``, ``categories``; a video is
``{id, width, height, length, file_names}``; an annotation is one object track
``{id, video_id, category_id, iscrowd, height, width, length, segmentations, bboxes, areas}``
whose three lists are indexed by position in ``file_names`` with ``null`` where the object is
absent. Segmentations are compressed COCO RLE (``{"size": [H, W], "counts": str}``), which the
YouTube-VIS API and pycocotools read as is.

Choices: one annotation per athlete (store object) and video; ``file_names`` are
``"<video_id>/<frame name>"``; an empty mask ("annotated, nobody there") and a frame without any
annotation both become ``null`` (YouTube-VIS cannot tell them apart); ``iscrowd`` is 0; one
category ``person``; video ids are 1-based in store order.

Example:
    >>> data = store_to_ytvis(MaskStore.open("data/store"), layer="effective")  # doctest: +SKIP
    >>> json.dump(data, open("masks_ytvis.json", "w"))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from hmtools.store.document import MASK_SOURCES

if TYPE_CHECKING:  # pragma: no cover
    from hmtools.store.store import MaskStore

YTVIS_LAYERS = MASK_SOURCES
CATEGORIES = [{"id": 1, "name": "person", "supercategory": "person"}]


def store_to_ytvis(store: "MaskStore", *, layer: str = "effective", video_ids: Sequence[str] | None = None,
                   progress: bool = False) -> dict:
    """YouTube-VIS dict of the store's masks in one layer.

    Args:
        layer: ``effective`` (per athlete: corrected, else pseudo), ``pseudo`` or ``corrected``.
        video_ids: a subset of the store (default: every document, sorted).
    """
    from tqdm import tqdm

    if layer not in YTVIS_LAYERS:
        raise ValueError(f"layer must be one of {YTVIS_LAYERS}, got {layer!r}")
    ids = list(video_ids) if video_ids is not None else store.video_ids()
    videos, annotations = [], []
    for vid_num, doc in enumerate(tqdm(store.iter_docs(ids), total=len(ids), unit="video",
                                       desc="export-ytvis", disable=not progress), start=1):
        h, w = doc.size_hw
        n = doc.n_frames
        videos.append({"id": vid_num, "name": doc.video_id, "width": w, "height": h, "length": n,
                       "file_names": [f"{doc.video_id}/{name}" for name in doc.frames]})
        for obj_id in doc.object_ids:
            segs, boxes, areas = [None] * n, [None] * n, [None] * n
            for i in range(n):
                rle = doc.object_mask(layer, i, obj_id)
                if rle is None or rle.area == 0:
                    continue
                segs[i] = {"size": [h, w], "counts": rle.counts}
                boxes[i] = [float(v) for v in rle.bbox_xywh]
                areas[i] = float(rle.area)
            if all(s is None for s in segs):
                continue
            annotations.append({"id": len(annotations) + 1, "video_id": vid_num, "category_id": 1,
                                "iscrowd": 0, "height": h, "width": w, "length": 1,
                                "segmentations": segs, "bboxes": boxes, "areas": areas})
    return {"info": {"description": f"hmtools mask store {store.root} ({layer} layer)"},
            "videos": videos, "annotations": annotations, "categories": CATEGORIES}

