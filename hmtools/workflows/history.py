"""Correction history: list what was decided on a frame over time, and revert the last decision.

Every correction that overwrites another keeps it (:meth:`~hmtools.store.VideoDoc.set_correction`,
``Correction.history``, oldest first). :func:`correction_history` lists the current correction
and its history per frame and athlete; :func:`revert` restores the previous correction (or, for a
first correction, drops it so the pseudo mask is effective again), in one atomic write under the
video's lock.

Example:
    >>> rows = correction_history(store, "01__10", "00490.jpg")     # doctest: +SKIP
    >>> revert(store, "01__10", "00490.jpg")                         # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from hmtools.errors import StoreError
from hmtools.store import MaskStore, VideoDoc, mask_hash


@dataclass(frozen=True)
class HistoryRow:
    """One decision on one athlete in one frame; ``version`` 0 is the oldest, ``current`` the one in effect."""

    frame_idx: int
    frame_name: str
    object_id: int
    version: int
    current: bool
    status: str
    by: str
    at: str
    tool: str
    mask_hash: str
    area: int

    def line(self) -> str:
        mark = "*" if self.current else " "
        return (f"{mark} {self.frame_name}#{self.object_id} v{self.version}  {self.status:9s} {self.at}  "
                f"by {self.by or '?'} with {self.tool or '?'}  mask {self.mask_hash} ({self.area} px)")


def frame_index(doc: VideoDoc, frame: str | int) -> int:
    """A frame given by name, or by 0-based index (digits that are not a frame name)."""
    if isinstance(frame, int):
        idx = frame
    elif frame in doc.frames:
        return doc.frame_index(frame)
    elif str(frame).isdigit():
        idx = int(frame)
    else:
        return doc.frame_index(frame)  # the StoreError naming the missing frame
    if not 0 <= idx < doc.n_frames:
        raise StoreError(f"video {doc.video_id}: frame index {idx} outside 0..{doc.n_frames - 1}")
    return idx


def correction_history(store: MaskStore, video_id: str, frame: str | int | None = None) -> list[HistoryRow]:
    """Every correction of the video (or of one frame) with its history, oldest first per athlete."""
    doc = store.read(video_id)
    only = None if frame is None else frame_index(doc, frame)
    rows = []
    for i, obj_id, corr in doc.corrected.items():
        if only is not None and i != only:
            continue
        versions = list(corr.history) + [corr]
        for v, c in enumerate(versions):
            rows.append(HistoryRow(i, doc.frames[i], obj_id, v, v == len(versions) - 1, c.status, c.by, c.at,
                                   c.tool, mask_hash(c.rle), c.rle.area))
    return rows


def revert(store: MaskStore, video_id: str, frame: str | int, obj_id: int | None = None) -> list[str]:
    """Undo the last correction of the frame (every corrected athlete, or ``obj_id``); one line each.

    Raises:
        StoreError: the frame (or athlete) has no correction; nothing is written.
    """
    lines = []
    with store.edit(video_id) as doc:
        i = frame_index(doc, frame)
        ids = [obj_id] if obj_id is not None else sorted(doc.corrected.objects(i))
        if not ids:
            raise StoreError(f"video {video_id}, frame {doc.frames[i]}: no correction to revert")
        for o in ids:
            restored = doc.revert_correction(i, o)
            what = ("pseudo mask effective again (no earlier correction)" if restored is None else
                    f"restored {restored.status} by {restored.by or '?'} at {restored.at} ({restored.tool})")
            lines.append(f"{video_id} {doc.frames[i]}#{o}: {what}")
    return lines
