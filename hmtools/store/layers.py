"""The two layers of a document as typed sequences of frame entries.

A :class:`Layer` holds one entry per frame: ``None`` where the layer has not annotated the frame,
else a :class:`FrameEntry`, a read-only mapping ``object id -> mask`` (a
:class:`~hmtools.store.records.PseudoMask` in the pseudo layer, a
:class:`~hmtools.store.records.Correction` in the corrected one). Masks are added through
:meth:`VideoDoc.set_pseudo` / :meth:`VideoDoc.set_correction`, which check frame, object and size.

A layer reads like the list it replaces (``doc.pseudo[i]``, ``for entry in doc.pseudo``,
``doc.corrected == [None] * n``); the accessors say what a caller means without ``or {}``::

    doc.pseudo.get(frame_idx, obj_id)      # PseudoMask | None
    doc.corrected.objects(frame_idx)       # FrameEntry, empty when the frame is not annotated
    for frame_idx, obj_id, corr in doc.corrected.items(): ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Generic, TypeVar

M = TypeVar("M")


class FrameEntry(Mapping, Generic[M]):
    """The masks of one frame in one layer: ``object id -> mask``, read-only."""

    __slots__ = ("_masks",)

    def __init__(self, masks: Mapping[int, M] | None = None):
        self._masks: dict[int, M] = dict(masks or {})

    def __getitem__(self, obj_id: int) -> M:
        return self._masks[obj_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._masks)

    def __len__(self) -> int:
        return len(self._masks)

    # The dict's own views and lookups: Mapping's generic ones go through __getitem__ in Python.
    def __contains__(self, obj_id) -> bool:
        return obj_id in self._masks

    def get(self, obj_id, default=None):
        return self._masks.get(obj_id, default)

    def keys(self):
        return self._masks.keys()

    def values(self):
        return self._masks.values()

    def items(self):
        return self._masks.items()

    def __repr__(self) -> str:
        return f"FrameEntry({self._masks!r})"

    @classmethod
    def _adopt(cls, masks: dict) -> "FrameEntry":
        """An entry that takes ``masks`` over without a copy (the caller drops its reference)."""
        entry = object.__new__(cls)
        entry._masks = masks
        return entry


_NO_MASKS: FrameEntry = FrameEntry()


class Layer(Sequence, Generic[M]):
    """One layer of a document: per frame ``None`` (not annotated) or a :class:`FrameEntry`.

    Args:
        frames: the number of frames (all ``None``), or the entries (``None`` or mappings).
    """

    __slots__ = ("_frames",)

    def __init__(self, frames: int | Iterable[Mapping[int, M] | None] = 0):
        entries = [None] * frames if isinstance(frames, int) else frames
        self._frames: list[FrameEntry[M] | None] = [None if e is None else _entry(e) for e in entries]

    @classmethod
    def _adopt(cls, entries: list) -> "Layer":
        """A layer that takes ``entries`` over without copies: per frame ``None`` or a non-empty
        dict ``object id -> mask`` that nobody else holds (a document being read)."""
        layer = object.__new__(cls)
        layer._frames = [None if e is None else FrameEntry._adopt(e) for e in entries]
        return layer

    # -- the sequence -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, frame_idx):
        return self._frames[frame_idx]

    def __setitem__(self, frame_idx: int, entry: Mapping[int, M] | None) -> None:
        """Replace one frame's entry (``None``: not annotated); the document checks it on write."""
        self._frames[frame_idx] = None if entry is None else _entry(entry)

    def __iter__(self) -> Iterator[FrameEntry[M] | None]:
        return iter(self._frames)

    def __eq__(self, other) -> bool:
        if isinstance(other, Layer):
            return self._frames == other._frames
        if isinstance(other, (list, tuple)):
            return self._frames == list(other)
        return NotImplemented

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        return f"Layer({self._frames!r})"

    # -- typed access -----------------------------------------------------------------------
    def get(self, frame_idx: int, obj_id: int) -> M | None:
        """One athlete's mask in one frame, ``None`` where the layer has none."""
        entry = self._frames[frame_idx]
        return None if entry is None else entry.get(obj_id)

    def objects(self, frame_idx: int) -> FrameEntry[M]:
        """The frame's masks by object id; an empty entry when the frame is not annotated."""
        return self._frames[frame_idx] or _NO_MASKS

    def is_annotated(self, frame_idx: int) -> bool:
        """True when the frame holds at least one mask in this layer."""
        return bool(self._frames[frame_idx])

    def has_masks(self) -> bool:
        """True when any frame holds a mask."""
        return any(self._frames)

    def items(self) -> Iterator[tuple[int, int, M]]:
        """``(frame_idx, object_id, mask)`` of every mask, in frame then object order."""
        for i, entry in enumerate(self._frames):
            if entry:
                for obj_id in sorted(entry):
                    yield i, obj_id, entry[obj_id]

    # -- mutation (through VideoDoc, which checks frame, object and size) -------------------
    def put(self, frame_idx: int, obj_id: int, mask: M) -> None:
        """Store one mask unchecked; use :meth:`VideoDoc.set_pseudo` / :meth:`VideoDoc.set_correction`."""
        entry = self._frames[frame_idx]
        if entry is None:
            entry = self._frames[frame_idx] = FrameEntry()
        entry._masks[obj_id] = mask

    def remove(self, frame_idx: int, obj_id: int) -> None:
        """Drop one mask; a frame left without masks becomes not annotated (``None``)."""
        entry = self._frames[frame_idx]
        if entry is not None:
            entry._masks.pop(obj_id, None)
            if not entry._masks:
                self._frames[frame_idx] = None

    def clear(self) -> None:
        """Drop every mask (every frame becomes not annotated)."""
        self._frames = [None] * len(self._frames)


def _entry(masks: Mapping) -> FrameEntry:
    return FrameEntry(masks)  # a copy: two layers never share an entry
