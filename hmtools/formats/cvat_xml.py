"""Read and write "CVAT for images 1.1" XML with masks, as plain records.

Written layout (what CVAT itself exports and imports)::

    <annotations>
      <version>1.1</version>
      <meta><task>... <labels><label><name>athlete</name><type>mask</type>...</labels></task></meta>
      <image id="0" name="01__10/00489.jpg" width="455" height="256">
        <mask label="athlete" source="auto" occluded="0" rle="0, 3, 2, 1" left="10" top="20"
              width="2" height="3" z_order="0">
          <attribute name="athlete_id">1</attribute>
          <attribute name="pseudo_hash">9f2c...</attribute>
          <attribute name="flag_reasons">low_score, area_jump</attribute>
        </mask>
        <tag label="empty" source="auto"/>
      </image>
    </annotations>

Image ``id`` is CVAT's task-relative 0-based frame number; importers match by ``name`` only.

Empty masks: CVAT has no empty mask shape, so "nobody there" is the *absence* of an object's mask
in a frame of the task, and a frame where every athlete is absent also carries a frame-level
``<tag label="empty">`` so the annotator sees the claim and can delete it. On import, a frame with
neither masks nor the tag is also empty (it was in the task and nobody drew anything); a frame with
both the tag and a mask is ambiguous and refused.

Polygons drawn instead of masks are accepted and rasterised (pycocotools' polygon fill); other
shapes and ``<track>`` elements (the "CVAT for video" format) are refused with a message.

Untrusted input: a document with a DOCTYPE or ENTITY declaration is refused before parsing (CVAT
never writes one), which rules out entity-expansion and external-entity attacks.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Sequence

from hmtools.errors import RLEError, StoreError
from hmtools.formats.cvat_rle import cvat_to_coco_rle
from hmtools.rle import RLE

EMPTY_TAG = "empty"
ATTRIBUTES = ("athlete_id", "pseudo_hash", "flag_reasons")


class CvatFormatError(StoreError):
    """A CVAT export is malformed or uses something this importer does not accept."""


@dataclass(frozen=True)
class CvatShape:
    """One mask of one frame, decoded to a whole-image COCO RLE."""

    label: str
    rle: RLE
    attributes: dict = field(default_factory=dict)
    source: str = "auto"


@dataclass(frozen=True)
class CvatFrame:
    """One ``<image>`` (or COCO image) of a CVAT task.

    Attributes:
        frame_id: CVAT's task-relative 0-based number (informative only).
        name: the image name, e.g. ``"01__10/00489.jpg"`` (matching key).
        size_hw: ``(H, W)`` the file declares.
        shapes: decoded masks.
        tags: frame-level tag labels (``"empty"``).
    """

    frame_id: int
    name: str
    size_hw: tuple[int, int]
    shapes: tuple[CvatShape, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MaskOut:
    """A mask to write: CVAT runs and box plus attributes (built by the exporter)."""

    label: str
    runs: str
    left: int
    top: int
    width: int
    height: int
    attributes: dict
    source: str = "auto"


@dataclass(frozen=True)
class ImageOut:
    """An ``<image>`` to write."""

    frame_id: int
    name: str
    size_hw: tuple[int, int]
    masks: tuple[MaskOut, ...] = ()
    tags: tuple[str, ...] = ()


def _labels_meta(label: str) -> ET.Element:
    labels = ET.Element("labels")
    for name, kind, color in ((label, "mask", "#ff4040"), (EMPTY_TAG, "tag", "#808080")):
        el = ET.SubElement(labels, "label")
        ET.SubElement(el, "name").text = name
        ET.SubElement(el, "color").text = color
        ET.SubElement(el, "type").text = kind
        attrs = ET.SubElement(el, "attributes")
        if kind == "mask":
            for attr in ATTRIBUTES:
                a = ET.SubElement(attrs, "attribute")
                ET.SubElement(a, "name").text = attr
                ET.SubElement(a, "mutable").text = "False"
                ET.SubElement(a, "input_type").text = "text"
                ET.SubElement(a, "default_value").text = "1" if attr == "athlete_id" else ""
                ET.SubElement(a, "values").text = ""
    return labels


def cvat_labels_json(label: str = "athlete") -> list[dict]:
    """The task's labels in CVAT's "Raw" label constructor form (paste it when creating the task)."""
    return [
        {"name": label, "color": "#ff4040", "type": "mask",
         "attributes": [{"name": a, "mutable": False, "input_type": "text",
                         "default_value": "1" if a == "athlete_id" else "", "values": []} for a in ATTRIBUTES]},
        {"name": EMPTY_TAG, "color": "#808080", "type": "tag", "attributes": []},
    ]


def images_to_cvat_xml(images: Sequence[ImageOut], *, task_name: str, label: str = "athlete",
                       dumped: str = "") -> bytes:
    """Serialise images with masks and tags as "CVAT for images 1.1" XML (UTF-8 bytes)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    for key, value in (("name", task_name), ("size", str(len(images))), ("mode", "annotation"),
                       ("overlap", "0"), ("z_order", "False")):
        ET.SubElement(task, key).text = value
    task.append(_labels_meta(label))
    if dumped:
        ET.SubElement(meta, "dumped").text = dumped
    for im in images:
        el = ET.SubElement(root, "image", {"id": str(im.frame_id), "name": im.name,
                                           "width": str(im.size_hw[1]), "height": str(im.size_hw[0])})
        for m in im.masks:
            mel = ET.SubElement(el, "mask", {
                "label": m.label, "source": m.source, "occluded": "0", "rle": m.runs,
                "left": str(m.left), "top": str(m.top), "width": str(m.width), "height": str(m.height),
                "z_order": "0"})
            for name, value in m.attributes.items():
                ET.SubElement(mel, "attribute", {"name": name}).text = str(value)
        for tag in im.tags:
            ET.SubElement(el, "tag", {"label": tag, "source": "auto"})
    ET.indent(root)
    buf = io.BytesIO()
    ET.ElementTree(root).write(buf, encoding="utf-8", xml_declaration=True)
    return buf.getvalue()


def _attr_int(el: ET.Element, key: str, where: str) -> int:
    value = el.get(key)
    if value is None:
        raise CvatFormatError(f"{where}: <{el.tag}> has no {key}=")
    try:
        f = float(value)
    except ValueError:
        raise CvatFormatError(f"{where}: <{el.tag}> {key}={value[:20]!r} is not a number") from None
    if f != f or f in (float("inf"), float("-inf")) or f != int(f) or f < 0:
        raise CvatFormatError(f"{where}: <{el.tag}> {key}={value[:20]!r} is not a non-negative integer")
    return int(f)


def _attributes(el: ET.Element) -> dict:
    return {a.get("name", ""): (a.text or "").strip() for a in el.findall("attribute")}


def polygon_to_rle(points_xy: Sequence[float], size_hw: Sequence[int], where: str) -> RLE:
    """Rasterise one polygon ``[x0, y0, x1, y1, ...]`` (COCO's fill rule) into a COCO RLE."""
    import math

    from pycocotools import mask as cocomask

    from hmtools.rle import rle_from_counts

    pts = [float(v) for v in points_xy]
    if len(pts) < 6 or len(pts) % 2 or not all(math.isfinite(v) for v in pts):
        raise RLEError(f"{where}: a polygon needs at least 3 finite (x, y) points")
    h, w = (int(v) for v in size_hw)
    coco = cocomask.merge(cocomask.frPyObjects([pts], h, w))
    return rle_from_counts(coco["counts"].decode("ascii"), (h, w), where=where)


def cvat_xml_to_frames(data: bytes, *, where: str) -> list[CvatFrame]:
    """Parse "CVAT for images 1.1" XML bytes into frames with decoded masks.

    Raises:
        CvatFormatError / RLEError: naming ``where`` and the image for any problem.
    """
    head = data[:65536].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise CvatFormatError(f"{where}: XML with a DOCTYPE/ENTITY declaration refused (CVAT writes none)")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise CvatFormatError(f"{where}: not well-formed XML ({err})") from None
    if root.tag != "annotations":
        raise CvatFormatError(f"{where}: root element is <{root.tag}>, expected <annotations> (CVAT for images 1.1)")
    if root.find("track") is not None:
        raise CvatFormatError(f"{where}: holds <track> elements (CVAT for video); export the task as "
                              "'CVAT for images 1.1'")
    frames = []
    for el in root.findall("image"):
        name = el.get("name")
        if not name:
            raise CvatFormatError(f"{where}: an <image> has no name=")
        here = f"{where}: image {name!r}"
        size_hw = (_attr_int(el, "height", here), _attr_int(el, "width", here))
        if size_hw[0] <= 0 or size_hw[1] <= 0:
            raise CvatFormatError(f"{here}: size {size_hw[1]}x{size_hw[0]} is empty")
        shapes, tags = [], []
        for child in el:
            label = child.get("label", "")
            if child.tag == "mask":
                rle = cvat_to_coco_rle(child.get("rle", ""), _attr_int(child, "left", here),
                                       _attr_int(child, "top", here), _attr_int(child, "width", here),
                                       _attr_int(child, "height", here), size_hw, where=f"{here}, mask")
                shapes.append(CvatShape(label, rle, _attributes(child), child.get("source", "")))
            elif child.tag == "polygon":
                try:
                    pts = [float(v) for pair in child.get("points", "").split(";") for v in pair.split(",")]
                except ValueError:
                    raise CvatFormatError(f"{here}: polygon points are not numbers") from None
                shapes.append(CvatShape(label, polygon_to_rle(pts, size_hw, f"{here}, polygon"),
                                        _attributes(child), child.get("source", "")))
            elif child.tag == "tag":
                tags.append(label)
            else:
                raise CvatFormatError(f"{here}: <{child.tag}> shapes are not supported (draw masks or polygons)")
        frames.append(CvatFrame(_attr_int(el, "id", here) if el.get("id") is not None else len(frames),
                                name, size_hw, tuple(shapes), tuple(tags)))
    return frames
