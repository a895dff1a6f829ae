"""The per-video mask document: two typed layers, the effective-mask and correction rules, validation.

One :class:`VideoDoc` holds every mask of one video in two layers that never overwrite each other:

* ``pseudo``: what a producer (SAM + OSTrack, the offline backends, an import) proposed, with the
  producer's provenance, per-object quality signals and a review flag;
* ``corrected``: what a person decided (``edited``, ``confirmed`` or ``empty``), who/when/with what,
  and the hash of the pseudo mask it replaced, so a regenerated pseudo layer cannot silently orphan
  a correction (see :meth:`VideoDoc.is_stale`).

Frames are indexed 0-based into ``frames`` (the original frame names). Each layer is a
:class:`~hmtools.store.layers.Layer`: per frame ``None`` when the frame is not annotated in that
layer, else a :class:`~hmtools.store.layers.FrameEntry` ``{object_id: mask}``; an empty RLE means
"annotated, nobody there". The *effective* mask of a frame is, object by object, the corrected
mask if there is one, else the pseudo mask; the frame's effective mask is their union (the
paper's counting: one mask per frame).

The rules every tool shares live here and in :mod:`hmtools.store.records`: which mask is
effective (:meth:`VideoDoc.effective_objects`), a correction's status
(:meth:`VideoDoc.make_correction`, which applies :func:`~hmtools.store.records.correction_status`)
and when a correction is stale (:meth:`VideoDoc.is_stale`).

The JSON form (:mod:`hmtools.store.doc_json`) is specified by
``annotations/schema/video.schema.json`` and documented in ``annotations/FORMAT.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from hmtools.errors import StoreError
from hmtools.rle import RLE, empty_rle, union
from hmtools.store.layers import Layer
from hmtools.store.records import (Correction, Producer, PseudoMask, TrackedObject, check_video_id,
                                   correction_status, mask_hash)

LAYERS = ("pseudo", "corrected")
# What a reader can ask for: a layer, or the effective mask (corrected, else pseudo, per athlete).
MASK_SOURCES = ("effective", *LAYERS)


@dataclass
class VideoDoc:
    """All masks of one video. Build with :meth:`new`; write through :class:`~hmtools.store.MaskStore`.

    Example:
        >>> doc = VideoDoc.new("01__10", (4, 4), ["00001.jpg", "00002.jpg"], objects=1)
        >>> doc.set_pseudo(0, 1, PseudoMask(mask_to_rle(np.ones((4, 4), bool))))
        >>> doc.effective(0).area, doc.effective(1), doc.pseudo_hash(1, 1)
        (16, None, None)
    """

    video_id: str
    size_hw: tuple[int, int]
    frames: tuple[str, ...]
    objects: list[TrackedObject]
    dataset: str | None = None
    key: Any = None
    action_type: str | None = None
    split: str | None = None
    synchronized: bool | None = None
    event: str | None = None
    source: str | None = None
    producer: Producer | None = None
    pseudo: Layer[PseudoMask] = field(default_factory=Layer)
    corrected: Layer[Correction] = field(default_factory=Layer)

    def __post_init__(self):
        # Lists of entries (the form before typed layers) are still accepted.
        if not isinstance(self.pseudo, Layer):
            self.pseudo = Layer(self.pseudo)
        if not isinstance(self.corrected, Layer):
            self.corrected = Layer(self.corrected)

    @classmethod
    def new(cls, video_id: str, size_hw: tuple[int, int], frames, *, objects: int = 1, **meta) -> "VideoDoc":
        """An empty document with ``objects`` athletes (ids 1..objects) and no masks."""
        frames = tuple(frames)
        doc = cls(video_id=check_video_id(video_id), size_hw=(int(size_hw[0]), int(size_hw[1])),
                  frames=frames, objects=[TrackedObject(i + 1) for i in range(objects)],
                  pseudo=Layer(len(frames)), corrected=Layer(len(frames)), **meta)
        doc.check()
        return doc

    # -- access -----------------------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        return len(self.frames)

    @property
    def object_ids(self) -> list[int]:
        return [o.id for o in self.objects]

    def frame_index(self, name: str) -> int:
        """0-based index of a frame name; StoreError when absent."""
        try:
            return self._name_to_idx()[name]
        except KeyError:
            raise StoreError(f"video {self.video_id}: no frame named {name!r}") from None

    def _name_to_idx(self) -> dict[str, int]:
        cache = getattr(self, "_name_cache", None)
        if cache is None or len(cache) != len(self.frames):
            cache = {n: i for i, n in enumerate(self.frames)}
            object.__setattr__(self, "_name_cache", cache)
        return cache

    def layer(self, name: str) -> Layer:
        """The ``pseudo`` or ``corrected`` layer; ValueError for another name."""
        if name == "pseudo":
            return self.pseudo
        if name == "corrected":
            return self.corrected
        raise ValueError(f"layer must be one of {LAYERS}, got {name!r}")

    def pseudo_mask(self, frame_idx: int, obj_id: int) -> PseudoMask | None:
        """One athlete's pseudo mask in a frame, ``None`` where there is none."""
        return self.pseudo.get(frame_idx, obj_id)

    def pseudo_hash(self, frame_idx: int, obj_id: int) -> str | None:
        """:func:`mask_hash` of one athlete's pseudo mask in a frame, ``None`` where there is none."""
        pm = self.pseudo.get(frame_idx, obj_id)
        return None if pm is None else mask_hash(pm.rle)

    def correction(self, frame_idx: int, obj_id: int) -> Correction | None:
        """One athlete's correction in a frame, ``None`` where there is none."""
        return self.corrected.get(frame_idx, obj_id)

    def effective_objects(self, frame_idx: int) -> dict[int, tuple[str, RLE]]:
        """Per object: ``(layer, rle)`` of the effective mask (corrected, else pseudo)."""
        out: dict[int, tuple[str, RLE]] = {}
        pseudo = self.pseudo.objects(frame_idx)
        corrected = self.corrected.objects(frame_idx)
        for obj_id in self.object_ids:
            if obj_id in corrected:
                out[obj_id] = ("corrected", corrected[obj_id].rle)
            elif obj_id in pseudo:
                out[obj_id] = ("pseudo", pseudo[obj_id].rle)
        return out

    def object_mask(self, source: str, frame_idx: int, obj_id: int) -> RLE | None:
        """One athlete's mask from ``source`` (``effective``, ``pseudo`` or ``corrected``), or ``None``."""
        if source == "effective":
            corr = self.corrected.get(frame_idx, obj_id)
            m = corr if corr is not None else self.pseudo.get(frame_idx, obj_id)
        else:
            m = self.layer(source).get(frame_idx, obj_id)
        return None if m is None else m.rle

    def effective(self, frame_idx: int) -> RLE | None:
        """The frame's effective mask: union of its athletes; ``None`` if the frame is not annotated."""
        objs = self.effective_objects(frame_idx)
        if not objs:
            return None
        return union([rle for _, rle in objs.values()])

    def layer_mask(self, source: str, frame_idx: int) -> RLE | None:
        """Union of a frame's masks from ``source`` (a layer, or ``effective``); ``None`` if it has none."""
        if source == "effective":
            return self.effective(frame_idx)
        entry = self.layer(source)[frame_idx]
        if not entry:
            return None
        return union([m.rle for m in entry.values()])

    # -- corrections ------------------------------------------------------------------------
    def make_correction(self, frame_idx: int, obj_id: int, rle: RLE, *, by: str, at: str, tool: str,
                        pseudo_hash: str | None) -> Correction:
        """A correction of one athlete in one frame, its status decided by the one rule.

        The status compares ``rle`` with the pseudo mask stored now
        (:func:`~hmtools.store.records.correction_status`: ``empty`` / ``confirmed`` / ``edited``);
        an empty mask is stored in its canonical form. Nothing is stored: pass the result to
        :meth:`set_correction`.

        Args:
            rle: the corrected mask.
            by, at, tool: who, when (ISO 8601 UTC), with what.
            pseudo_hash: the hash of the pseudo mask the decision was made against (what the
                annotator saw); usually :meth:`pseudo_hash` of the same frame and object.
        """
        pm = self.pseudo.get(frame_idx, obj_id)
        status = correction_status(rle, None if pm is None else pm.rle)
        if status == "empty":
            rle = empty_rle(self.size_hw)
        return Correction(rle, status=status, by=by, at=at, tool=tool, pseudo_hash=pseudo_hash)

    def is_stale(self, frame_idx: int, obj_id: int, corr: Correction | None = None) -> bool:
        """Whether a correction was made against another pseudo mask than the one stored now.

        Args:
            corr: the correction to judge (default: the stored one; ``False`` when there is none).
        """
        corr = corr if corr is not None else self.corrected.get(frame_idx, obj_id)
        return corr is not None and corr.pseudo_hash != self.pseudo_hash(frame_idx, obj_id)

    def stale_corrections(self) -> Iterator[tuple[int, int]]:
        """``(frame_idx, object_id)`` of corrections whose pseudo mask has changed since."""
        for i, obj_id, corr in self.corrected.items():
            if self.is_stale(i, obj_id, corr):
                yield i, obj_id

    # -- mutation ---------------------------------------------------------------------------
    def set_pseudo(self, frame_idx: int, obj_id: int, mask: PseudoMask) -> None:
        self._set(self.pseudo, frame_idx, obj_id, mask)

    def set_correction(self, frame_idx: int, obj_id: int, corr: Correction) -> None:
        """Store a correction; one already there goes into its history (:meth:`Correction.superseding`)."""
        if 0 <= frame_idx < self.n_frames:
            corr = corr.superseding(self.corrected.get(frame_idx, obj_id))
        self._set(self.corrected, frame_idx, obj_id, corr)

    def revert_correction(self, frame_idx: int, obj_id: int) -> Correction | None:
        """Restore the correction before the current one (the last of its history); without a
        history, drop the correction (the pseudo mask is effective again). Returns what is now
        effective in the corrected layer (``None`` when the correction was dropped).

        Raises:
            StoreError: there is no correction of ``obj_id`` in that frame.
        """
        corr = self.corrected.get(frame_idx, obj_id)
        if corr is None:
            raise StoreError(f"video {self.video_id}, frame {self.frames[frame_idx]}: object {obj_id} "
                             "has no correction to revert")
        if not corr.history:
            self.corrected.remove(frame_idx, obj_id)
            return None
        restored = replace(corr.history[-1], history=corr.history[:-1])
        self.corrected.put(frame_idx, obj_id, restored)
        return restored

    def clear_layer(self, layer: str) -> None:
        """Drop every mask of one layer (e.g. before writing a regenerated pseudo layer)."""
        self.layer(layer).clear()

    def _set(self, layer: Layer, frame_idx: int, obj_id: int, value) -> None:
        if not 0 <= frame_idx < self.n_frames:
            raise StoreError(f"video {self.video_id}: frame index {frame_idx} outside 0..{self.n_frames - 1}")
        if obj_id not in self.object_ids:
            raise StoreError(f"video {self.video_id}: unknown object id {obj_id} (known: {self.object_ids})")
        if tuple(value.rle.size_hw) != self.size_hw:
            raise StoreError(f"video {self.video_id}, frame {self.frames[frame_idx]}: mask size "
                             f"{value.rle.size_hw[0]}x{value.rle.size_hw[1]} but the video is "
                             f"{self.size_hw[0]}x{self.size_hw[1]} (HxW)")
        layer.put(frame_idx, obj_id, value)

    # -- validation -------------------------------------------------------------------------
    def check(self, *, masks: bool = True) -> None:
        """Raise StoreError if the document is inconsistent (sizes, lengths, ids, frame names);
        ``masks=False`` skips the object id and size of every mask (a reader that checked them)."""
        where = f"video {self.video_id}"
        check_video_id(self.video_id)
        h, w = self.size_hw
        if h <= 0 or w <= 0:
            raise StoreError(f"{where}: size must be positive, got {h}x{w}")
        if len(set(self.frames)) != len(self.frames):
            raise StoreError(f"{where}: duplicate frame names")
        if any(not isinstance(n, str) or not n for n in self.frames):
            raise StoreError(f"{where}: frame names must be non-empty strings")
        ids = self.object_ids
        if len(set(ids)) != len(ids) or any(not isinstance(i, int) or i < 1 for i in ids):
            raise StoreError(f"{where}: object ids must be distinct positive integers, got {ids}")
        known, size_hw = set(ids), (h, w)
        for name in LAYERS if masks else ():
            frames = self.layer(name)
            if len(frames) != self.n_frames:
                raise StoreError(f"{where}: layer {name} has {len(frames)} frames, expected {self.n_frames}")
            for i, entry in enumerate(frames):  # every mask of a read document: kept lean
                if entry is None:
                    continue
                for obj_id, m in entry.items():
                    if obj_id not in known:
                        raise StoreError(f"{where}: layer {name}, frame {self.frames[i]}: unknown object {obj_id}")
                    mask_hw = m.rle.size_hw
                    if mask_hw is not self.size_hw and tuple(mask_hw) != size_hw:
                        raise StoreError(f"{where}: layer {name}, frame {self.frames[i]}: mask size "
                                         f"{mask_hw} differs from the video's {size_hw}")

