"""The mask store: one validated JSON document per video, atomic writes, a derived Parquet index.

Modules: :mod:`~hmtools.store.records` (masks, corrections, provenance, the correction status
rule), :mod:`~hmtools.store.layers` (the typed layers), :mod:`~hmtools.store.document` (the
document and its rules), :mod:`~hmtools.store.doc_json` (its JSON form), :mod:`~hmtools.store.store`
(the folder of documents), :mod:`~hmtools.store.index` (the Parquet index).

Public API::

    from hmtools.store import MaskStore, VideoDoc, PseudoMask, Correction, Producer, Quality, Flag
    store = MaskStore.open_or_create(root)
    with store.edit(video_id, create=lambda: VideoDoc.new(video_id, (H, W), frame_names, objects=2)) as doc:
        doc.set_pseudo(frame_idx, obj_id, PseudoMask(mask_to_rle(mask), Quality(score=0.9), Flag()))
        doc.set_correction(frame_idx, obj_id, doc.make_correction(
            frame_idx, obj_id, rle, by="ana", at=utc_now(), tool="web-editor",
            pseudo_hash=doc.pseudo_hash(frame_idx, obj_id)))
    doc = store.read(video_id); doc.effective(frame_idx)  # -> RLE | None

Library functions that work on a store take an opened :class:`MaskStore` as their first argument
(``store``); only the command-line layer turns a ``--store`` path into one.
"""

from hmtools.store.doc_json import SCHEMA_VERSION, doc_from_json, doc_to_json
from hmtools.store.document import LAYERS, MASK_SOURCES, VideoDoc
from hmtools.store.layers import FrameEntry, Layer
from hmtools.store.records import (
    CORRECTION_STATUSES,
    Correction,
    Flag,
    Producer,
    PseudoMask,
    Quality,
    TrackedObject,
    check_video_id,
    correction_status,
    mask_hash,
    utc_now,
)
from hmtools.store.store import MaskStore, read_doc_file

__all__ = [
    "CORRECTION_STATUSES", "LAYERS", "MASK_SOURCES", "SCHEMA_VERSION", "Correction", "Flag", "FrameEntry",
    "Layer", "MaskStore", "Producer", "PseudoMask", "Quality", "TrackedObject", "VideoDoc", "check_video_id",
    "correction_status", "doc_from_json", "doc_to_json", "mask_hash", "read_doc_file", "utc_now",
]
