"""The records of a mask document: pseudo masks, corrections, provenance, and the status rule.

A pseudo mask (:class:`PseudoMask`) is what a producer proposed for one athlete in one frame; a
correction (:class:`Correction`) is what a person (or an import of ground truth) decided. Every
tool that writes a correction asks :func:`correction_status` for its status, so "edited",
"confirmed" and "empty" mean the same thing whoever wrote them:

* ``empty``: the corrected mask has no pixel (nobody there), whatever the pseudo mask was;
* ``confirmed``: the corrected mask is exactly the pseudo mask stored for that athlete and frame
  when the correction is written (same RLE counts);
* ``edited``: anything else (a changed mask, or a mask where there was no pseudo mask).

Example:
    >>> correction_status(mask_to_rle(np.ones((4, 4), bool)), None)   # doctest: +SKIP
    'edited'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from hmtools.errors import StoreError
from hmtools.rle import RLE

CORRECTION_STATUSES = ("edited", "confirmed", "empty")
QUALITY_FIELDS = ("score", "stability", "tracker_peak", "iou_prev", "area_jump", "empty", "border")
VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_video_id(video_id: str) -> str:
    """Return ``video_id`` if it is a safe file stem (letters, digits, ``._-``), else raise StoreError."""
    if not isinstance(video_id, str) or not VIDEO_ID_RE.match(video_id) or ".." in video_id:
        raise StoreError(f"invalid video id {video_id!r}: use letters, digits, '.', '_' and '-' "
                         "(not starting with '.' or '-', no '..')")
    return video_id


def utc_now() -> str:
    """Current time as ISO 8601 UTC with seconds, e.g. ``2026-11-25T18:00:00Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def mask_hash(rle: RLE) -> str:
    """Short content hash of a mask (16 hex digits of SHA-1 over size and counts)."""
    h, w = rle.size_hw
    return hashlib.sha1(f"{h}x{w}:{rle.counts}".encode("ascii")).hexdigest()[:16]


@dataclass(frozen=True)
class Quality:
    """Per-frame, per-object quality signals of a pseudo mask; ``None`` = not measured.

    Attributes:
        score: segmenter confidence (SAM predicted IoU, classical segmenter score).
        stability: SAM stability score (IoU of the mask thresholded at logit +1 and -1).
        tracker_peak: peak of the tracker's score map.
        iou_prev: IoU with the same object's mask in the previous frame.
        area_jump: relative area change against the previous frame, ``|a - a_prev| / max(a_prev, 1)``.
        empty: the mask is empty.
        border: the object's box touches the image border.
    """

    score: float | None = None
    stability: float | None = None
    tracker_peak: float | None = None
    iou_prev: float | None = None
    area_jump: float | None = None
    empty: bool | None = None
    border: bool | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}  # fields in QUALITY_FIELDS order


@dataclass(frozen=True)
class Flag:
    """Review flag of a pseudo mask: whether a person should look, and why."""

    review: bool = False
    reasons: tuple[str, ...] = ()

    def __post_init__(self):
        if self.reasons and not self.review:
            raise ValueError(f"Flag: reasons {self.reasons} given but review is False")


@dataclass(frozen=True)
class PseudoMask:
    """One object's proposed mask in one frame.

    Attributes:
        anchor: the frame name of the correction this mask was re-propagated from
            (``hmtools propagate``); ``None`` for a mask of the producer's first pass.
    """

    rle: RLE
    quality: Quality = Quality()
    flag: Flag = Flag()
    anchor: str | None = None


@dataclass(frozen=True)
class Correction:
    """One object's corrected mask in one frame.

    Attributes:
        rle: the corrected mask (the empty mask for status ``empty``).
        status: ``edited`` (changed by hand), ``confirmed`` (pseudo mask accepted as is) or
            ``empty`` (nobody there).
        by: who (annotator name or tool user).
        at: when, ISO 8601 UTC.
        tool: with what (``cvat``, ``web-editor``, ``import-hm``, ...).
        pseudo_hash: :func:`mask_hash` of the pseudo mask this correction replaced, ``None`` if
            there was none.
        history: the corrections this one overwrote, oldest first, each without a history of its
            own (:meth:`VideoDoc.set_correction` keeps them; ``hmtools revert`` restores the last).
    """

    rle: RLE
    status: str
    by: str
    at: str
    tool: str
    pseudo_hash: str | None = None
    history: tuple["Correction", ...] = ()

    def __post_init__(self):
        if self.status not in CORRECTION_STATUSES:
            raise ValueError(f"Correction.status must be one of {CORRECTION_STATUSES}, got {self.status!r}")
        if self.status == "empty" and self.rle.area != 0:
            raise ValueError(f"Correction with status 'empty' has a mask of area {self.rle.area}")
        if any(h.history for h in self.history):
            raise ValueError("Correction.history entries must not carry a history of their own")

    def superseding(self, old: "Correction | None") -> "Correction":
        """This correction written over ``old``: ``old`` (and its history) goes into the history
        when the mask or the status changed; an identical decision keeps the old history only."""
        if old is None:
            return self
        if old.rle.counts == self.rle.counts and old.status == self.status:
            return replace(self, history=old.history)
        return replace(self, history=old.history + (replace(old, history=()),))


@dataclass(frozen=True)
class Producer:
    """Provenance of a pseudo layer: backend, checkpoint hashes, parameters, time, tool version."""

    backend: str
    params: dict = field(default_factory=dict)
    checkpoints: dict = field(default_factory=dict)  # name -> sha256 of the file
    created: str = field(default_factory=utc_now)
    tool_version: str = ""

    def to_json(self) -> dict:
        return {"backend": self.backend, "params": self.params, "checkpoints": self.checkpoints,
                "created": self.created, "tool_version": self.tool_version}


@dataclass(frozen=True)
class TrackedObject:
    """One athlete of the video (synchronized diving has two). ``id`` is a positive int."""

    id: int
    label: str = "athlete"


def correction_status(rle: RLE, pseudo: RLE | None) -> str:
    """The status of a correction with mask ``rle`` made where the pseudo mask is ``pseudo``.

    The one place the rule lives (see the module doc): ``empty`` for an empty mask, ``confirmed``
    when ``rle`` equals ``pseudo``, else ``edited``.

    Args:
        rle: the corrected mask.
        pseudo: the pseudo mask of the same athlete and frame, ``None`` where there is none.

    Example:
        >>> full = mask_to_rle(np.ones((4, 4), bool))                      # doctest: +SKIP
        >>> [correction_status(full, full), correction_status(empty_rle((4, 4)), full)]  # doctest: +SKIP
        ['confirmed', 'empty']
    """
    if rle.area == 0:
        return "empty"
    if pseudo is not None and pseudo.counts == rle.counts and tuple(pseudo.size_hw) == tuple(rle.size_hw):
        return "confirmed"
    return "edited"
