"""The mask store: one validated JSON document per video, atomic writes, a derived Parquet index.

Public API::

    from hmtools.store import MaskStore, VideoDoc, PseudoMask, Correction, Producer, Quality, Flag
    store = MaskStore.open_or_create(root)
    with store.edit(video_id, create=lambda: VideoDoc.new(video_id, (H, W), frame_names, objects=2)) as doc:
        doc.set_pseudo(frame_idx, obj_id, PseudoMask(mask_to_rle(mask), Quality(score=0.9), Flag()))
    doc = store.read(video_id); doc.effective(frame_idx)  # -> RLE | None
"""

from hmtools.store.document import (
    CORRECTION_STATUSES,
    LAYERS,
    SCHEMA_VERSION,
    Correction,
    Flag,
    Producer,
    PseudoMask,
    Quality,
    TrackedObject,
    VideoDoc,
    check_video_id,
    doc_from_json,
    doc_to_json,
    mask_hash,
    utc_now,
)
from hmtools.store.store import MaskStore, read_doc_file

__all__ = [
    "CORRECTION_STATUSES", "LAYERS", "SCHEMA_VERSION", "Correction", "Flag", "MaskStore", "Producer",
    "PseudoMask", "Quality", "TrackedObject", "VideoDoc", "check_video_id", "doc_from_json",
    "doc_to_json", "mask_hash", "read_doc_file", "utc_now",
]
