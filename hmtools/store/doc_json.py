"""A :class:`~hmtools.store.document.VideoDoc` to and from its JSON form, validated on the way in.

The layout is specified by ``annotations/schema/video.schema.json`` and documented in
``annotations/FORMAT.md``; :func:`doc_from_json` checks it by hand (fast, precise messages naming
the file and the JSON path) and validates every RLE with :func:`hmtools.rle.counts_to_runs`, whose
runs each RLE keeps for a fast decode (4 bytes a run; see :class:`hmtools.rle.RLE`).

Example:
    >>> doc_from_json(doc_to_json(doc), "videos/01__10.json") == doc   # doctest: +SKIP
    True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from itertools import chain, repeat
from operator import itemgetter
from typing import Any

from hmtools.errors import StoreError
from hmtools.rle import RLE, checked_rles, counts_to_runs, fill_area_bbox, split_runs, validate_counts
from hmtools.store.document import VideoDoc
from hmtools.store.layers import Layer
from hmtools.store.records import (QUALITY_FIELDS, Correction, Flag, Producer, PseudoMask, Quality, TrackedObject,
                                   check_video_id, mask_hash)

SCHEMA_VERSION = 1
_QUALITY_KEYS = frozenset(QUALITY_FIELDS)
_QUALITY_FLAGS = frozenset(("empty", "border"))


def _rle_json(rle: RLE) -> dict:
    return {"counts": rle.counts, "area": rle.area, "bbox": list(rle.bbox_xywh)}


def doc_to_json(doc: VideoDoc) -> dict:
    """The JSON document (see annotations/FORMAT.md)."""
    # Areas and boxes of freshly encoded masks: a few batched pycocotools calls, not two a mask.
    fill_area_bbox([m.rle for layer in (doc.pseudo, doc.corrected) for _, _, m in layer.items()])

    def pseudo_entry(m: PseudoMask) -> dict:
        out = _rle_json(m.rle)
        q = m.quality.to_json()
        if q:
            out["quality"] = q
        if m.flag.review:
            out["flag"] = {"review": True, "reasons": list(m.flag.reasons)}
        if m.anchor is not None:
            out["anchor"] = m.anchor
        return out

    def corr_entry(c: Correction) -> dict:
        out = _rle_json(c.rle)
        out.update(status=c.status, by=c.by, at=c.at, tool=c.tool, pseudo_hash=c.pseudo_hash)
        if c.history:
            out["history"] = [dict(corr_entry(h), mask_hash=mask_hash(h.rle)) for h in c.history]
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

    # Every mask of both layers is collected first, then checked field by field over all of them
    # at once: the counts in one vectorised pass, the other fields by their types in C-level passes
    # over the lists (at ~70 us a decode, every microsecond spent on a mask here is 1.5 %).
    places: list[tuple[str, int, int]] = []  # (layer, frame index, object id) of every mask
    masks: list = []
    n_pseudo = 0
    for layer, layer_json in (("pseudo", pseudo_json), ("corrected", corrected_json)):
        lf = r.get(layer_json, "frames", list, f"$.layers.{layer}")
        if len(lf) != len(frames):
            r.fail(f"$.layers.{layer}.frames", f"has {len(lf)} entries, expected one per frame ({len(frames)})")
        for i, entry in enumerate(lf):
            if entry is None:
                continue
            if not isinstance(entry, dict):
                r.fail(f"$.layers.{layer}.frames[{i}]", "expected null or an object")
            for key in entry:
                if not (key.isascii() and key.isdigit()):
                    r.fail(f"$.layers.{layer}.frames[{i}]", f"object key {key!r} is not a positive integer")
                places.append((layer, i, int(key)))
            masks.extend(entry.values())
        if layer == "pseudo":
            n_pseudo = len(masks)
    counts = _fields(masks, "counts") if _all(masks, dict) else None
    if counts is None or not _all(counts, str):
        k = next(k for k, m in enumerate(masks) if not (isinstance(m, dict) and isinstance(m.get("counts"), str)))
        layer, i, obj_id = places[k]
        r.fail(f"$.layers.{layer}.frames[{i}].{obj_id}", "expected an object with a 'counts' string")
    labels = _EntryLabels(where, frames, places)
    # The runs of the check are kept by each RLE: rle_to_mask decodes from them (see RLE).
    areas, runs, n_runs = counts_to_runs(counts, [(h, w)] * len(masks), where=labels)
    areas = areas.tolist()
    stored = _fields(masks, "area")
    if stored != areas:
        k = next(k for k, (s, a) in enumerate(zip(stored, areas)) if s != a)
        raise StoreError(f"{labels[k]}: stored area {stored[k]} but the RLE has {areas[k]} pixels")
    bboxes = _fields(masks, "bbox")
    if not (_all(bboxes, list) and set(map(len, bboxes)) <= {4} and _all(chain.from_iterable(bboxes), int)):
        k = next(k for k, b in enumerate(bboxes) if not _is_bbox(b))
        raise StoreError(f"{labels[k]}: bbox must be [x, y, w, h] integers")

    doc = VideoDoc(
        video_id=r.get(data, "video_id", str, "$"), size_hw=(h, w), frames=tuple(frames), objects=objects,
        dataset=r.get(data, "dataset", str, "$", optional=True), key=data.get("key"),
        action_type=r.get(data, "action_type", str, "$", optional=True),
        split=r.get(data, "split", str, "$", optional=True),
        synchronized=r.get(data, "synchronized", bool, "$", optional=True),
        event=r.get(data, "event", str, "$", optional=True),
        source=r.get(data, "source", str, "$", optional=True),
        producer=producer)
    try:
        check_video_id(doc.video_id)
    except StoreError as err:
        r.fail("$.video_id", str(err))
    size = doc.size_hw
    rles = checked_rles(size, counts, areas, map(tuple, bboxes), split_runs(runs, n_runs))
    values = _pseudo_masks(masks[:n_pseudo], rles[:n_pseudo], labels)
    for k in range(n_pseudo, len(masks)):
        m = masks[k]
        try:
            values.append(_correction(rles[k], m, _history(m.get("history"), size, labels[k])))
        except (TypeError, ValueError) as err:
            raise StoreError(f"{labels[k]}: {err}") from None
    built: dict[str, list] = {"pseudo": [None] * len(frames), "corrected": [None] * len(frames)}
    frame_masks, at = None, None
    for (layer, i, obj_id), value in zip(places, values):
        if at != (layer, i):  # masks come frame by frame: one dict a frame and layer
            at = (layer, i)
            frame_masks = built[layer][i] = {}
        frame_masks[obj_id] = value
    doc.pseudo, doc.corrected = Layer._adopt(built["pseudo"]), Layer._adopt(built["corrected"])
    # Every mask has the document's size (checked_rles above): the per-mask loop of check() can
    # only find an unknown object id, so it runs only to name one.
    known = set(doc.object_ids).__contains__
    try:
        doc.check(masks=not all(map(known, map(itemgetter(2), places))))
    except StoreError as err:
        raise StoreError(f"{where}: {err}") from None
    return doc


def _correction(rle: RLE, m: dict, history: tuple = ()) -> Correction:
    return Correction(rle, status=m.get("status"), by=str(m.get("by", "")), at=str(m.get("at", "")),
                      tool=str(m.get("tool", "")), pseudo_hash=m.get("pseudo_hash"), history=history)


def _history(items: Any, size: tuple[int, int], label: str) -> tuple:
    """The previous corrections of one correction (absent in documents written before history)."""
    if items is None or items == []:
        return ()
    if not isinstance(items, list) or not all(isinstance(h, dict) and isinstance(h.get("counts"), str)
                                              for h in items):
        raise StoreError(f"{label}: history must be a list of corrections")
    where = [f"{label}: history[{j}]" for j in range(len(items))]
    areas = validate_counts([h["counts"] for h in items], [size] * len(items), where=where).tolist()
    out = []
    for j, (h, area) in enumerate(zip(items, areas)):
        if h.get("area") != area:
            raise StoreError(f"{where[j]}: stored area {h.get('area')} but the RLE has {area} pixels")
        bbox = h.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int) for v in bbox)):
            raise StoreError(f"{where[j]}: bbox must be [x, y, w, h] integers")
        out.append(_correction(RLE(size, h["counts"], area, tuple(bbox)), h))
    return tuple(out)


class _EntryLabels(Sequence):
    """``"<file>: layer L, frame F, object O"`` of each collected RLE, formatted only when an
    error message needs one."""

    def __init__(self, where: str, frames: list, entries: list):
        self.where, self.frames, self.entries = where, frames, entries

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, k: int) -> str:
        layer, i, obj_id = self.entries[k]
        return f"{self.where}: layer {layer}, frame {self.frames[i] if i < len(self.frames) else i}, object {obj_id}"


_NO_QUALITY = Quality()
_NO_FLAG = Flag()
_QUALITY_DEFAULTS = dict.fromkeys(QUALITY_FIELDS)
_NONE = type(None)
_NUMBER_TYPES = frozenset((int, float, _NONE))
_FLAG_TYPES = frozenset((bool, _NONE))


def _fields(masks: list, key: str) -> list:
    """``m.get(key)`` of every JSON object in ``masks``, in one C-level pass."""
    return list(map(dict.get, masks, repeat(key)))


def _all(items: Iterable, cls, *, none: bool = False) -> bool:
    """True when every item is a ``cls`` (or None with ``none``): one C-level pass over the types."""
    types = set(map(type, items))
    if none:
        types.discard(_NONE)
    return all(issubclass(t, cls) for t in types)


def _is_bbox(b: Any) -> bool:
    return isinstance(b, list) and len(b) == 4 and all(isinstance(v, int) for v in b)


def _instances(cls, field_dicts: list[dict]) -> list:
    """Instances of the frozen dataclass ``cls`` that take the dicts of already checked field values
    over as their ``__dict__``, in C-level passes: its ``__init__`` costs an ``object.__setattr__``
    a field, a third of the time a mask takes in :func:`doc_from_json`."""
    objs = list(map(object.__new__, repeat(cls, len(field_dicts))))
    deque(map(object.__setattr__, objs, repeat("__dict__"), field_dicts), maxlen=0)
    return objs


for _cls in (PseudoMask, Quality):  # _instances skips __init__: only for classes that check nothing in it
    if "__post_init__" in vars(_cls):
        raise TypeError(f"{_cls.__name__} checks itself in __post_init__: construct it")


def _pseudo_masks(masks: list, rles: list[RLE], labels: Sequence[str]) -> list[PseudoMask]:
    """The pseudo masks of the JSON objects ``masks`` (named by ``labels[k]``) with their RLEs."""
    qualities = _qualities(_fields(masks, "quality"), labels)
    flags = [_NO_FLAG if f is None else _flag(f, labels, k) for k, f in enumerate(_fields(masks, "flag"))]
    anchors = _fields(masks, "anchor")
    if not _all(anchors, str, none=True):
        for k, a in enumerate(anchors):
            _anchor(a, labels, k)
    return _instances(PseudoMask, [{"rle": r, "quality": q, "flag": f, "anchor": a}
                                   for r, q, f, a in zip(rles, qualities, flags, anchors)])


def _qualities(qs: list, labels: Sequence[str]) -> list[Quality]:
    """The :class:`Quality` of each JSON ``quality`` object (``None``: not measured), checked by the
    types of each key's values over all of them; any surprise is named by :func:`_check_quality`."""
    given = [q for q in qs if q is not None]
    keys = set().union(*given) if _all(given, dict) else None
    if keys is None or not keys <= _QUALITY_KEYS or not all(
            set(map(type, _fields(given, key))) <= (_FLAG_TYPES if key in _QUALITY_FLAGS else _NUMBER_TYPES)
            for key in keys):
        for k, q in enumerate(qs):
            _check_quality(q, labels, k)
    made = iter(_instances(Quality, [{**_QUALITY_DEFAULTS, **q} for q in given]))
    return [_NO_QUALITY if q is None else next(made) for q in qs]


def _check_quality(q: Any, labels: Sequence[str], k: int) -> None:
    if q is None:
        return
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


def _anchor(a: Any, labels: Sequence[str], k: int) -> str | None:
    if a is not None and not isinstance(a, str):
        raise StoreError(f"{labels[k]}: anchor must be a frame name, got {a!r}")
    return a


def _flag(f: Any, labels: Sequence[str], k: int) -> Flag:
    if f is None:
        return _NO_FLAG
    if not isinstance(f, dict) or not isinstance(f.get("reasons", []), list):
        raise StoreError(f"{labels[k]}: flag must be {{'review': bool, 'reasons': [str]}}")
    return Flag(bool(f.get("review")), tuple(str(x) for x in f.get("reasons", [])))
