"""Build mask stores fast for tests and benchmarks: documents written as JSON text, no per-mask work.

:func:`write_meta_store` puts one constant mask on every frame of every clip of the public
FineDiving metadata (``reference/data/finediving-meta``), the layout of FineDiving-HM: 3,000
documents and 312,256 masks in a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hmtools.rle import mask_to_rle
from hmtools.store import MaskStore

from helpers.finediving_fixture import finediving_meta_records, frame_names


def constant_mask_json(size_hw: tuple[int, int]) -> str:
    """The JSON of one small person-ish box mask of this size (``{"counts":..., "area":..., "bbox":...}``)."""
    h, w = size_hw
    m = np.zeros((h, w), bool)
    m[h // 4: h // 2, w // 3: w // 3 + max(1, w // 20)] = True
    rle = mask_to_rle(m)
    return json.dumps({"counts": rle.counts, "area": rle.area, "bbox": list(rle.bbox_xywh)},
                      separators=(",", ":"))


def doc_text(video_id: str, size_hw: tuple[int, int], frames: list[str], mask_json: str | Sequence[str],
             meta: dict, *, objects: int = 1, masked: Iterable[int] | None = None) -> str:
    """A schema-valid document with ``mask_json`` as object 1's pseudo mask on every frame
    (or only on the ``masked`` frame indices); a list of mask JSONs is cycled over the frames."""
    head = {"schema_version": 1, "video_id": video_id, "dataset": meta.get("dataset"),
            "key": meta.get("key"), "action_type": meta.get("action_type"), "split": meta.get("split"),
            "synchronized": meta.get("synchronized"), "event": meta.get("event"), "source": None,
            "height": size_hw[0], "width": size_hw[1], "frames": frames,
            "objects": [{"id": i + 1, "label": "athlete"} for i in range(objects)]}
    pool = [mask_json] if isinstance(mask_json, str) else list(mask_json)
    entries = ['{"1":' + m + "}" for m in pool]
    chosen = set(range(len(frames)) if masked is None else masked)
    pseudo = ",".join(entries[i % len(entries)] if i in chosen else "null" for i in range(len(frames)))
    corrected = ",".join(["null"] * len(frames))
    return (json.dumps(head, separators=(",", ":"))[:-1]
            + ',"layers":{"pseudo":{"producer":{"backend":"test","params":{},"checkpoints":{},'
            + '"created":"2026-01-01T00:00:00Z","tool_version":"0"},"frames":[' + pseudo + "]},"
            + '"corrected":{"frames":[' + corrected + "]}}}")


def write_meta_store(root: Path, records: list[dict] | None = None) -> MaskStore:
    """A store with one mask on every frame of every clip of the FineDiving metadata
    (``records`` from :func:`helpers.finediving_fixture.finediving_meta_records`, default all)."""
    records = finediving_meta_records() if records is None else records
    store = MaskStore.create(root)
    masks: dict[tuple[int, int], str] = {}
    for rec in records:
        size = (int(rec["height"]), int(rec["width"]))
        if size not in masks:
            masks[size] = constant_mask_json(size)
        sync = bool(rec["synchronized"])
        meta = {"dataset": "finediving", "key": [rec["competition"], rec["idx"]],
                "action_type": rec["action_type"], "split": rec["split"], "synchronized": sync,
                "event": "synchronized" if sync else "individual"}
        text = doc_text(rec["video_id"], size, frame_names(rec), masks[size], meta)
        (store.videos_dir / f"{rec['video_id']}.json").write_text(text)
    return store


def set_json_path(data, path, value) -> None:
    """Set ``data[path[0]][path[1]]...`` to ``value`` (``KeyError`` as the value deletes the key)."""
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
