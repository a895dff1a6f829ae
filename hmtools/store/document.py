"""The per-video mask document: typed records, JSON form, validation.

One :class:`VideoDoc` holds every mask of one video in two layers that never overwrite each other:

* ``pseudo``: what a producer (SAM + OSTrack, the offline backends, an import) proposed, with the
  producer's provenance, per-object quality signals and a review flag;
* ``corrected``: what a person decided (``edited``, ``confirmed`` or ``empty``), who/when/with what,
  and the hash of the pseudo mask it replaced, so a regenerated pseudo layer cannot silently orphan
  a correction (see :meth:`VideoDoc.stale_corrections`).

Frames are indexed 0-based into ``frames`` (the original frame names). A frame entry is ``None``
when the frame is not annotated in that layer, and ``{object_id: mask}`` when it is; an empty RLE
means "annotated, nobody there". The *effective* mask of a frame is, object by object, the
corrected mask if there is one, else the pseudo mask; the frame's effective mask is their union
(the paper's counting: one mask per frame).

The JSON layout is specified by ``annotations/schema/video.schema.json`` and documented in
``annotations/FORMAT.md``; :func:`doc_from_json` checks it by hand (fast, precise messages) and
validates every RLE with :func:`hmtools.rle.validate_counts`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

from hmtools.errors import StoreError
from hmtools.rle import RLE, fill_area_bbox, union, validate_counts

SCHEMA_VERSION = 1
LAYERS = ("pseudo", "corrected")
CORRECTION_STATUSES = ("edited", "confirmed", "empty")
QUALITY_FIELDS = ("score", "stability", "tracker_peak", "iou_prev", "area_jump", "empty", "border")
_QUALITY_KEYS = frozenset(QUALITY_FIELDS)
_QUALITY_FLAGS = frozenset(("empty", "border"))
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
    """One object's proposed mask in one frame."""

    rle: RLE
    quality: Quality = Quality()
    flag: Flag = Flag()


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
    """

    rle: RLE
    status: str
    by: str
    at: str
    tool: str
    pseudo_hash: str | None = None

    def __post_init__(self):
        if self.status not in CORRECTION_STATUSES:
            raise ValueError(f"Correction.status must be one of {CORRECTION_STATUSES}, got {self.status!r}")
        if self.status == "empty" and self.rle.area != 0:
            raise ValueError(f"Correction with status 'empty' has a mask of area {self.rle.area}")


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


FrameMasks = dict  # object id -> PseudoMask | Correction


@dataclass
class VideoDoc:
    """All masks of one video. Build with :meth:`new`; write through :class:`~hmtools.store.MaskStore`.

    Example:
        >>> doc = VideoDoc.new("01__10", (4, 4), ["00001.jpg", "00002.jpg"], objects=1)
        >>> doc.set_pseudo(0, 1, PseudoMask(mask_to_rle(np.ones((4, 4), bool))))
        >>> doc.effective(0).area, doc.effective(1)
        (16, None)
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
    pseudo: list = field(default_factory=list)      # per frame: None | {obj_id: PseudoMask}
    corrected: list = field(default_factory=list)   # per frame: None | {obj_id: Correction}

    @classmethod
    def new(cls, video_id: str, size_hw: tuple[int, int], frames, *, objects: int = 1, **meta) -> "VideoDoc":
        """An empty document with ``objects`` athletes (ids 1..objects) and no masks."""
        frames = tuple(frames)
        doc = cls(video_id=check_video_id(video_id), size_hw=(int(size_hw[0]), int(size_hw[1])),
                  frames=frames, objects=[TrackedObject(i + 1) for i in range(objects)],
                  pseudo=[None] * len(frames), corrected=[None] * len(frames), **meta)
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

    def effective_objects(self, frame_idx: int) -> dict[int, tuple[str, RLE]]:
        """Per object: ``(layer, rle)`` of the effective mask (corrected, else pseudo)."""
        out: dict[int, tuple[str, RLE]] = {}
        pseudo = self.pseudo[frame_idx] or {}
        corrected = self.corrected[frame_idx] or {}
        for obj_id in self.object_ids:
            if obj_id in corrected:
                out[obj_id] = ("corrected", corrected[obj_id].rle)
            elif obj_id in pseudo:
                out[obj_id] = ("pseudo", pseudo[obj_id].rle)
        return out

    def effective(self, frame_idx: int) -> RLE | None:
        """The frame's effective mask: union of its athletes; ``None`` if the frame is not annotated."""
        objs = self.effective_objects(frame_idx)
        if not objs:
            return None
        return union([rle for _, rle in objs.values()])

    def layer_mask(self, layer: str, frame_idx: int) -> RLE | None:
        """Union of one layer's object masks in a frame; ``None`` if that layer has no entry."""
        entry = self._layer(layer)[frame_idx]
        if not entry:
            return None
        return union([m.rle for m in entry.values()])

    def stale_corrections(self) -> Iterator[tuple[int, int]]:
        """``(frame_idx, object_id)`` of corrections whose pseudo mask has changed since."""
        for i, entry in enumerate(self.corrected):
            for obj_id, corr in (entry or {}).items():
                pseudo = (self.pseudo[i] or {}).get(obj_id)
                current = mask_hash(pseudo.rle) if pseudo is not None else None
                if corr.pseudo_hash != current:
                    yield i, obj_id

    # -- mutation ---------------------------------------------------------------------------
    def set_pseudo(self, frame_idx: int, obj_id: int, mask: PseudoMask) -> None:
        self._set("pseudo", frame_idx, obj_id, mask)

    def set_correction(self, frame_idx: int, obj_id: int, corr: Correction) -> None:
        self._set("corrected", frame_idx, obj_id, corr)

    def clear_layer(self, layer: str) -> None:
        """Drop every mask of one layer (e.g. before writing a regenerated pseudo layer)."""
        self._layer(layer)[:] = [None] * self.n_frames

    def _layer(self, layer: str) -> list:
        if layer not in LAYERS:
            raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
        return self.pseudo if layer == "pseudo" else self.corrected

    def _set(self, layer: str, frame_idx: int, obj_id: int, value) -> None:
        if not 0 <= frame_idx < self.n_frames:
            raise StoreError(f"video {self.video_id}: frame index {frame_idx} outside 0..{self.n_frames - 1}")
        if obj_id not in self.object_ids:
            raise StoreError(f"video {self.video_id}: unknown object id {obj_id} (known: {self.object_ids})")
        if tuple(value.rle.size_hw) != self.size_hw:
            raise StoreError(f"video {self.video_id}, frame {self.frames[frame_idx]}: mask size "
                             f"{value.rle.size_hw[0]}x{value.rle.size_hw[1]} but the video is "
                             f"{self.size_hw[0]}x{self.size_hw[1]} (HxW)")
        frames = self._layer(layer)
        if frames[frame_idx] is None:
            frames[frame_idx] = {}
        frames[frame_idx][obj_id] = value

    # -- validation -------------------------------------------------------------------------
    def check(self) -> None:
        """Raise StoreError if the document is inconsistent (sizes, lengths, ids, frame names)."""
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
        for layer in LAYERS:
            frames = self._layer(layer)
            if len(frames) != self.n_frames:
                raise StoreError(f"{where}: layer {layer} has {len(frames)} frames, expected {self.n_frames}")
            for i, entry in enumerate(frames):
                for obj_id, m in (entry or {}).items():
                    if obj_id not in ids:
                        raise StoreError(f"{where}: layer {layer}, frame {self.frames[i]}: unknown object {obj_id}")
                    if tuple(m.rle.size_hw) != (h, w):
                        raise StoreError(f"{where}: layer {layer}, frame {self.frames[i]}: mask size "
                                         f"{m.rle.size_hw} differs from the video's {(h, w)}")


# -- JSON ------------------------------------------------------------------------------------

def _rle_json(rle: RLE) -> dict:
    return {"counts": rle.counts, "area": rle.area, "bbox": list(rle.bbox_xywh)}


def doc_to_json(doc: VideoDoc) -> dict:
    """The JSON document (see annotations/FORMAT.md)."""
    # Areas and boxes of freshly encoded masks: a few batched pycocotools calls, not two a mask.
    fill_area_bbox([m.rle for layer in (doc.pseudo, doc.corrected) for e in layer if e for m in e.values()])

    def pseudo_entry(m: PseudoMask) -> dict:
        out = _rle_json(m.rle)
        q = m.quality.to_json()
        if q:
            out["quality"] = q
        if m.flag.review:
            out["flag"] = {"review": True, "reasons": list(m.flag.reasons)}
        return out

    def corr_entry(c: Correction) -> dict:
        out = _rle_json(c.rle)
        out.update(status=c.status, by=c.by, at=c.at, tool=c.tool, pseudo_hash=c.pseudo_hash)
        return out

    def layer(frames, fn):
        return [None if e is None else {str(k): fn(v) for k, v in sorted(e.items())} for e in frames]

    return {
        "schema_version": SCHEMA_VERSION,
        "video_id": doc.video_id,
        "dataset": doc.dataset,
        "key": doc.key,
        "action_type": doc.action_type,
        "split": doc.split,
        "synchronized": doc.synchronized,
        "event": doc.event,
        "source": doc.source,
        "height": doc.size_hw[0],
        "width": doc.size_hw[1],
        "frames": list(doc.frames),
        "objects": [{"id": o.id, "label": o.label} for o in doc.objects],
        "layers": {
            "pseudo": {"producer": doc.producer.to_json() if doc.producer else None,
                       "frames": layer(doc.pseudo, pseudo_entry)},
            "corrected": {"frames": layer(doc.corrected, corr_entry)},
        },
    }


class _Reader:
    """Typed field access with one-line errors naming the file and the JSON path."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, path: str, msg: str):
        raise StoreError(f"{self.where}: {path}: {msg}")

    def get(self, obj: dict, key: str, types, path: str, *, optional=False):
        if not isinstance(obj, dict):
            self.fail(path, f"expected an object, got {type(obj).__name__}")
        if key not in obj:
            if optional:
                return None
            self.fail(f"{path}.{key}", "missing")
        value = obj[key]
        if value is None and optional:
            return None
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            self.fail(f"{path}.{key}", f"expected {_type_names(types)}, got {type(value).__name__}")
        return value


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _type_names(types) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(types))


def doc_from_json(data: Any, where: str) -> VideoDoc:
    """Parse and validate a JSON document; ``where`` (the file) prefixes every error.

    Raises:
        StoreError: for any structural problem; RLEError (also an HMError) for an invalid RLE.
    """
    r = _Reader(where)
    if not isinstance(data, dict):
        r.fail("$", f"expected an object, got {type(data).__name__}")
    version = r.get(data, "schema_version", int, "$")
    if version != SCHEMA_VERSION:
        r.fail("$.schema_version", f"unsupported version {version} (this hmtools reads {SCHEMA_VERSION})")
    h = r.get(data, "height", int, "$")
    w = r.get(data, "width", int, "$")
    frames = r.get(data, "frames", list, "$")
    if not all(isinstance(f, str) for f in frames):
        r.fail("$.frames", "expected a list of strings")
    objects_json = r.get(data, "objects", list, "$")
    objects = [TrackedObject(r.get(o, "id", int, f"$.objects[{i}]"),
                             r.get(o, "label", str, f"$.objects[{i}]", optional=True) or "athlete")
               for i, o in enumerate(objects_json)]
    layers = r.get(data, "layers", dict, "$")
    pseudo_json = r.get(layers, "pseudo", dict, "$.layers")
    corrected_json = r.get(layers, "corrected", dict, "$.layers")
    producer_json = r.get(pseudo_json, "producer", dict, "$.layers.pseudo", optional=True)
    producer = None
    if producer_json is not None:
        p = "$.layers.pseudo.producer"
        producer = Producer(backend=r.get(producer_json, "backend", str, p),
                            params=r.get(producer_json, "params", dict, p, optional=True) or {},
                            checkpoints=r.get(producer_json, "checkpoints", dict, p, optional=True) or {},
                            created=r.get(producer_json, "created", str, p, optional=True) or "",
                            tool_version=r.get(producer_json, "tool_version", str, p, optional=True) or "")

    # Collect every RLE first and validate them in one vectorised pass.
    entries: list[tuple[str, int, int, dict]] = []
    for layer, layer_json in (("pseudo", pseudo_json), ("corrected", corrected_json)):
        lf = r.get(layer_json, "frames", list, f"$.layers.{layer}")
        if len(lf) != len(frames):
            r.fail(f"$.layers.{layer}.frames", f"has {len(lf)} entries, expected one per frame ({len(frames)})")
        for i, entry in enumerate(lf):
            if entry is None:
                continue
            if not isinstance(entry, dict):
                r.fail(f"$.layers.{layer}.frames[{i}]", "expected null or an object")
            for key, m in entry.items():
                if not (key.isascii() and key.isdigit()):
                    r.fail(f"$.layers.{layer}.frames[{i}]", f"object key {key!r} is not a positive integer")
                if not isinstance(m, dict) or not isinstance(m.get("counts"), str):
                    r.fail(f"$.layers.{layer}.frames[{i}].{key}", "expected an object with a 'counts' string")
                entries.append((layer, i, int(key), m))
    labels = _EntryLabels(where, frames, entries)
    areas = validate_counts([m["counts"] for *_, m in entries], [(h, w)] * len(entries), where=labels).tolist()

    doc = VideoDoc(
        video_id=r.get(data, "video_id", str, "$"), size_hw=(h, w), frames=tuple(frames), objects=objects,
        dataset=r.get(data, "dataset", str, "$", optional=True), key=data.get("key"),
        action_type=r.get(data, "action_type", str, "$", optional=True),
        split=r.get(data, "split", str, "$", optional=True),
        synchronized=r.get(data, "synchronized", bool, "$", optional=True),
        event=r.get(data, "event", str, "$", optional=True),
        source=r.get(data, "source", str, "$", optional=True),
        producer=producer, pseudo=[None] * len(frames), corrected=[None] * len(frames))
    try:
        check_video_id(doc.video_id)
    except StoreError as err:
        r.fail("$.video_id", str(err))
    size = (h, w)
    for k, ((layer, i, obj_id, m), area) in enumerate(zip(entries, areas)):
        bbox = m.get("bbox")
        if m.get("area") != area:
            raise StoreError(f"{labels[k]}: stored area {m.get('area')} but the RLE has {area} pixels")
        if not (isinstance(bbox, list) and len(bbox) == 4 and isinstance(bbox[0], int) and isinstance(bbox[1], int)
                and isinstance(bbox[2], int) and isinstance(bbox[3], int)):
            raise StoreError(f"{labels[k]}: bbox must be [x, y, w, h] integers")
        rle = RLE(size, m["counts"], area, tuple(bbox))
        try:
            if layer == "pseudo":
                value = _checked_instance(PseudoMask, {"rle": rle, "quality": _quality(m.get("quality"), labels, k),
                                                       "flag": _flag(m.get("flag"), labels, k)})
            else:
                value = Correction(rle, status=m.get("status"), by=str(m.get("by", "")),
                                   at=str(m.get("at", "")), tool=str(m.get("tool", "")),
                                   pseudo_hash=m.get("pseudo_hash"))
        except (TypeError, ValueError) as err:
            raise StoreError(f"{labels[k]}: {err}") from None
        frames_of_layer = doc.pseudo if layer == "pseudo" else doc.corrected
        if frames_of_layer[i] is None:
            frames_of_layer[i] = {}
        frames_of_layer[i][obj_id] = value
    try:
        doc.check()
    except StoreError as err:
        raise StoreError(f"{where}: {err}") from None
    return doc


class _EntryLabels(Sequence):
    """``"<file>: layer L, frame F, object O"`` of each collected RLE, formatted only when an
    error message needs one."""

    def __init__(self, where: str, frames: list, entries: list):
        self.where, self.frames, self.entries = where, frames, entries

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, k: int) -> str:
        layer, i, obj_id, _ = self.entries[k]
        return f"{self.where}: layer {layer}, frame {self.frames[i] if i < len(self.frames) else i}, object {obj_id}"


_NO_QUALITY = Quality()
_NO_FLAG = Flag()
_QUALITY_DEFAULTS = dict.fromkeys(QUALITY_FIELDS)


def _checked_instance(cls, fields: dict):
    """An instance of a frozen dataclass from field values already checked, filled in one dict
    update: its ``__init__`` costs an ``object.__setattr__`` a field (a third of the time spent on
    a mask in :func:`doc_from_json`). Classes with a ``__post_init__`` go through ``__init__``."""
    if "__post_init__" in vars(cls):
        return cls(**fields)
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def _quality(q: Any, labels: Sequence[str], k: int) -> Quality:
    if q is None:
        return _NO_QUALITY
    if not isinstance(q, dict) or not q.keys() <= _QUALITY_KEYS:
        raise StoreError(f"{labels[k]}: quality must be an object with keys from {QUALITY_FIELDS}")
    for key, value in q.items():
        if value is None:
            continue
        flag_field = key in _QUALITY_FLAGS
        ok = isinstance(value, bool) if flag_field else (
            isinstance(value, (int, float)) and not isinstance(value, bool))
        if not ok:
            raise StoreError(f"{labels[k]}: quality.{key} must be {'true/false' if flag_field else 'a number'}, "
                             f"got {value!r}")
    return _checked_instance(Quality, {**_QUALITY_DEFAULTS, **q})


def _flag(f: Any, labels: Sequence[str], k: int) -> Flag:
    if f is None:
        return _NO_FLAG
    if not isinstance(f, dict) or not isinstance(f.get("reasons", []), list):
        raise StoreError(f"{labels[k]}: flag must be {{'review': bool, 'reasons': [str]}}")
    return Flag(bool(f.get("review")), tuple(str(x) for x in f.get("reasons", [])))
