"""Read CVAT's "COCO 1.0" export (``annotations/instances_default.json``) into CVAT frames.

CVAT writes every mask as ``iscrowd=1`` with *uncompressed* column-major counts (``{"counts":
[int, ...], "size": [H, W]}``) and polygons as ``iscrowd=0`` lists; attributes sit in each
annotation's ``attributes`` object. Everything is normalised here to our convention: compressed
COCO RLE, iscrowd ignored (our masks are iscrowd=0), one :class:`~hmtools.formats.cvat_xml.CvatShape`
per annotation. COCO has no frame tags, so an image without annotations is "nobody there".

Every count list is checked (integers, non-negative, summing to H*W) before pycocotools sees it:
its C code trusts its input.
"""

from __future__ import annotations

import json
from typing import Any

from hmtools.errors import RLEError
from hmtools.formats.cvat_xml import CvatFormatError, CvatFrame, CvatShape, polygon_to_rle
from hmtools.rle import RLE, rle_from_counts

# A single run longer than this cannot be a real image (and would overflow pycocotools' uint32).
_MAX_RUN = 2 ** 32 - 1


def uncompressed_to_rle(counts: Any, size_hw: tuple[int, int], *, where: str) -> RLE:
    """Validate an uncompressed COCO count list and compress it.

    Example:
        >>> uncompressed_to_rle([1, 2, 1], (2, 2), where="x").area
        2
    """
    from pycocotools import mask as cocomask

    h, w = size_hw
    if not isinstance(counts, list) or not counts:
        raise RLEError(f"{where}: counts must be a non-empty list of integers")
    if not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= _MAX_RUN for c in counts):
        raise RLEError(f"{where}: counts must be non-negative integers")
    if sum(counts) != h * w:
        raise RLEError(f"{where}: runs sum to {sum(counts)}, expected H*W = {h}x{w} = {h * w}")
    coco = cocomask.frPyObjects({"counts": counts, "size": [h, w]}, h, w)
    return rle_from_counts(coco["counts"].decode("ascii"), (h, w), where=where)


def segmentation_to_rle(seg: Any, size_hw: tuple[int, int], *, where: str) -> RLE:
    """One COCO ``segmentation`` (uncompressed/compressed RLE or polygons) as compressed RLE."""
    from hmtools.rle import union

    if isinstance(seg, dict):
        size = seg.get("size")
        if not (isinstance(size, list) and all(isinstance(v, int) for v in size) and tuple(size) == tuple(size_hw)):
            raise RLEError(f"{where}: segmentation size {size!r} differs from the image's {list(size_hw)}")
        counts = seg.get("counts")
        if isinstance(counts, str):
            return rle_from_counts(counts, size_hw, where=where)
        return uncompressed_to_rle(counts, size_hw, where=where)
    if isinstance(seg, list) and seg and all(isinstance(p, list) for p in seg):
        return union([polygon_to_rle(p, size_hw, f"{where}, polygon {k}") for k, p in enumerate(seg)])
    raise RLEError(f"{where}: segmentation must be an RLE object or a list of polygons")


def cvat_coco_to_frames(data: bytes, *, where: str) -> list[CvatFrame]:
    """Parse CVAT's COCO 1.0 instances JSON into frames (one per COCO image) with decoded masks.

    Raises:
        CvatFormatError / RLEError: naming ``where`` and the image for any problem.
    """
    try:
        doc = json.loads(data)
    except ValueError as err:
        raise CvatFormatError(f"{where}: not valid JSON ({err})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise CvatFormatError(f"{where}: not a COCO instances file (no 'images' list)")
    cats = {}
    for c in doc.get("categories") or []:
        if isinstance(c, dict) and isinstance(c.get("id"), int):
            cats[c["id"]] = str(c.get("name", ""))
    images: dict[int, dict] = {}
    for k, im in enumerate(doc["images"]):
        if not (isinstance(im, dict) and isinstance(im.get("id"), int) and isinstance(im.get("file_name"), str)
                and isinstance(im.get("width"), int) and isinstance(im.get("height"), int)):
            raise CvatFormatError(f"{where}: images[{k}] needs integer id, width, height and a file_name")
        if im["id"] in images:
            raise CvatFormatError(f"{where}: image id {im['id']} appears twice")
        if im["width"] <= 0 or im["height"] <= 0:
            raise CvatFormatError(f"{where}: image {im['file_name']!r} has size {im['width']}x{im['height']}")
        images[im["id"]] = im
    shapes: dict[int, list[CvatShape]] = {i: [] for i in images}
    for k, ann in enumerate(doc.get("annotations") or []):
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            raise CvatFormatError(f"{where}: annotations[{k}] refers to no listed image")
        im = images[ann["image_id"]]
        here = f"{where}: image {im['file_name']!r}, annotation {ann.get('id', k)}"
        rle = segmentation_to_rle(ann.get("segmentation"), (im["height"], im["width"]), where=here)
        attrs = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
        attrs = {str(a): str(v) for a, v in attrs.items() if a != "occluded"}
        shapes[im["id"]].append(CvatShape(cats.get(ann.get("category_id"), str(ann.get("category_id"))),
                                          rle, attrs, "file"))
    return [CvatFrame(frame_id=k, name=im["file_name"], size_hw=(im["height"], im["width"]),
                      shapes=tuple(shapes[im_id]))
            for k, (im_id, im) in enumerate(images.items())]
