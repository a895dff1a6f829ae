"""OSTrack's tracking loop: crops, Hann window, map-back; several objects in one batch.

Every step follows the official tracker (``lib/test/tracker/ostrack.py`` with ``sample_target`` from
``lib/train/data/processing_utils.py``), quirks included, so the boxes are the official ones:

* the crop is a square of side ``ceil(sqrt(w * h) * factor)`` whose top-left corner is
  ``round(cx - side / 2)``; outside the frame it is zero-padded, and at the right and bottom the
  official code pads from ``x2 - W + 1`` (``y2 - H + 1``), so a crop reaching that edge drops the
  frame's last column (row) and pads one more in its place;
* the template is cropped once (``template_factor``) and never updated;
* the score map is multiplied by a centred 2-D Hann window and the box is read at its arg-max cell
  (the head's ``cal_bbox``);
* the box is mapped back around the previous box's centre minus half the crop side
  (``cx_prev - 0.5 * S / resize_factor``), not around the crop's integer corner, which differs
  from it by up to 0.5 px; the division by the resize factor is done in float32 as the official
  tensor arithmetic does; then the box is clipped to keep 10 px inside the frame.

Example:
    >>> img = np.zeros((100, 200, 3), np.uint8)
    >>> crop = sample_target(img, (50.5, 20.0, 30.0, 40.0), factor=2.0, output_size=64)
    >>> crop.origin_xy, crop.side, crop.center_xy  # round(30.5) == 30
    ((30, 5), 70, (65.5, 40.0))
    >>> [round(v, 4) for v in map_box_back((32.0, 32.0, 16.0, 16.0), crop)]  # from 30.5, not 30
    [56.75, 31.25, 17.5, 17.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from hmtools.pseudo.base import TrackedBox
from hmtools.pseudo.ostrack.build import OSTrack
from hmtools.pseudo.ostrack.head import maps_to_box


@dataclass(frozen=True)
class Crop:
    """A square crop of a frame, resized.

    Attributes:
        pixels: ``(S, S, 3)`` uint8 crop (zero padding outside the frame).
        origin_xy: frame coordinates of the crop's top-left corner (may be negative).
        side: crop side in frame pixels before resizing.
        resize_factor: ``S / side``.
        center_xy: centre of the box the crop was taken around; the official map-back measures
            from it (minus half the crop side), not from ``origin_xy``.
    """

    pixels: np.ndarray
    origin_xy: tuple[int, int]
    side: int
    resize_factor: float
    center_xy: tuple[float, float]

    @property
    def half_side(self) -> float:
        """Official ``0.5 * S / resize_factor`` (``side / 2`` up to float rounding)."""
        return 0.5 * self.pixels.shape[0] / self.resize_factor


def sample_target(image: np.ndarray, box_xywh: Sequence[float], factor: float,
                  output_size: int) -> Crop:
    """Square crop of side ``ceil(sqrt(w * h) * factor)`` centred on the box, resized to ``output_size``.

    The official ``sample_target``: corner ``round(cx - side / 2)``, zero padding, and right / bottom
    padding from ``x2 - W + 1`` / ``y2 - H + 1`` (a crop reaching the edge loses the last column /
    row). A crop wholly outside the frame (the official code fails there) is all zeros.

    Args:
        image: ``(H, W, 3)`` uint8 frame.
        box_xywh: ``(x, y, w, h)`` in pixels, ``w, h > 0``.
    """
    import cv2

    x, y, w, h = (float(v) for v in box_xywh)
    if w <= 0 or h <= 0:
        raise ValueError(f"box_xywh must have positive width and height, got {tuple(box_xywh)}")
    side = max(1, math.ceil(math.sqrt(w * h) * factor))
    x1 = round(x + 0.5 * w - side * 0.5)
    y1 = round(y + 0.5 * h - side * 0.5)
    x2, y2 = x1 + side, y1 + side
    ih, iw = image.shape[:2]
    pad_l, pad_t = max(0, -x1), max(0, -y1)
    pad_r, pad_b = max(0, x2 - iw + 1), max(0, y2 - ih + 1)  # official: + 1
    inner = image[y1 + pad_t:y2 - pad_b, x1 + pad_l:x2 - pad_r]
    if inner.size == 0:  # box entirely outside the frame: an all-zero crop
        padded = np.zeros((side, side, 3), np.uint8)
    else:
        padded = cv2.copyMakeBorder(inner, pad_t, pad_b, pad_l, pad_r, cv2.BORDER_CONSTANT, value=0)
    pixels = cv2.resize(padded, (output_size, output_size))
    return Crop(pixels=pixels, origin_xy=(x1, y1), side=side, resize_factor=output_size / side,
                center_xy=(x + 0.5 * w, y + 0.5 * h))


def box_to_crop(box_xywh: Sequence[float], crop: Crop) -> tuple[float, float, float, float]:
    """Frame box ``(x, y, w, h)`` -> ``(cx, cy, w, h)`` in resized-crop pixels (inverse of
    :func:`map_box_back` up to its float32 division)."""
    x, y, w, h = (float(v) for v in box_xywh)
    f = crop.resize_factor
    ox, oy = crop.center_xy[0] - crop.half_side, crop.center_xy[1] - crop.half_side
    return (x + 0.5 * w - ox) * f, (y + 0.5 * h - oy) * f, w * f, h * f


def map_box_back(box_cxcywh_crop: Sequence[float], crop: Crop) -> tuple[float, float, float, float]:
    """``(cx, cy, w, h)`` in resized-crop pixels -> frame box ``(x, y, w, h)``.

    Official ``map_box_back``: ``cx / resize_factor + (cx_prev - 0.5 * S / resize_factor)`` with
    ``(cx_prev, cy_prev)`` the centre the crop was taken around; the division is float32 (the
    official divides a float32 tensor), the rest float64.
    """
    scaled = np.asarray(box_cxcywh_crop, np.float32) / np.float32(crop.resize_factor)
    cx, cy, w, h = (float(v) for v in scaled)
    cx += crop.center_xy[0] - crop.half_side
    cy += crop.center_xy[1] - crop.half_side
    return cx - 0.5 * w, cy - 0.5 * h, w, h


def clip_box(box_xywh: Sequence[float], size_hw: tuple[int, int], margin: float = 10.0
             ) -> tuple[float, float, float, float]:
    """Official ``clip_box``: keep at least ``margin`` px of the box inside the frame."""
    h_img, w_img = size_hw
    x1, y1, w, h = (float(v) for v in box_xywh)
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), w_img - margin)
    x2 = min(max(margin, x2), w_img)
    y1 = min(max(0.0, y1), h_img - margin)
    y2 = min(max(margin, y2), h_img)
    return x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)


def hann1d(size: int) -> torch.Tensor:
    """Centred Hann window of ``size`` samples, all > 0 (pytracking's ``hann1d(centered=True)``)."""
    return 0.5 * (1 - torch.cos((2 * math.pi / (size + 1)) * torch.arange(1, size + 1).float()))


def hann2d(size: int) -> torch.Tensor:
    """``(1, 1, size, size)`` outer product of two centred Hann windows."""
    w = hann1d(size)
    return w.view(1, 1, -1, 1) * w.view(1, 1, 1, -1)


def xyxy_to_xywh(b: Sequence[float]) -> tuple[float, float, float, float]:
    return float(b[0]), float(b[1]), float(b[2]) - float(b[0]), float(b[3]) - float(b[1])


def xywh_to_xyxy(b: Sequence[float]) -> tuple[float, float, float, float]:
    return float(b[0]), float(b[1]), float(b[0]) + float(b[2]), float(b[1]) + float(b[3])


@dataclass
class _ObjectState:
    template: torch.Tensor  # (1, 3, Tz, Tz) normalised
    box_xywh: tuple[float, float, float, float]


class OSTrackTracker:
    """Follows several objects with one batched OSTrack forward per frame.

    Args:
        model: an :class:`OSTrack` (weights loaded).
        device: ``"cpu"`` or ``"cuda"``.
        half: run the network in bf16 (fp16 where bf16 is unsupported) on CUDA.
    """

    name = "ostrack"
    needs_mask_feedback = False  # the official loop follows its own boxes

    def __init__(self, model: OSTrack, device: str = "cpu", half: bool = True):
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.cfg = model.cfg
        self.window = hann2d(self.cfg.feat_size).to(self.device)
        self.autocast_dtype = None
        if half and self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.objects: dict[int, _ObjectState] = {}

    def _normalise(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        batch = torch.from_numpy(np.stack(crops)).to(self.device, non_blocking=True)
        return self.model.preprocess(batch)

    def start(self, frame_rgb: np.ndarray, obj_id: int, box_xyxy: Sequence[float]) -> None:
        box = xyxy_to_xywh(box_xyxy)
        if box[2] <= 0 or box[3] <= 0:
            raise ValueError(f"object {obj_id}: empty start box {tuple(box_xyxy)}")
        crop = sample_target(frame_rgb, box, self.cfg.template_factor, self.cfg.template_size)
        self.objects[obj_id] = _ObjectState(self._normalise([crop.pixels]), box)

    def correct(self, obj_id: int, box_xyxy: Sequence[float]) -> None:
        """OSTrack follows its own boxes (official loop); mask feedback is not used."""

    @torch.inference_mode()
    def step(self, frame_rgb: np.ndarray) -> dict[int, TrackedBox]:
        if not self.objects:
            return {}
        ids = list(self.objects)
        crops = [sample_target(frame_rgb, self.objects[i].box_xywh, self.cfg.search_factor,
                               self.cfg.search_size) for i in ids]
        search = self._normalise([c.pixels for c in crops])
        template = torch.cat([self.objects[i].template for i in ids])
        with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32,
                            enabled=self.autocast_dtype is not None):
            out = self.model(template, search)
        maps = out.maps
        score, size, offset = maps.score.float(), maps.size.float(), maps.offset.float()
        boxes, idx = maps_to_box(score * self.window, size, offset)
        peaks = score.flatten(1).gather(1, idx[:, None]).squeeze(1)
        boxes = (boxes * self.cfg.search_size).cpu().numpy()
        peaks = peaks.cpu().numpy()
        result = {}
        size_hw = frame_rgb.shape[:2]
        for k, obj_id in enumerate(ids):
            box = clip_box(map_box_back(boxes[k], crops[k]), size_hw, margin=10.0)
            self.objects[obj_id].box_xywh = box
            x1, y1, x2, y2 = xywh_to_xyxy(box)
            result[obj_id] = TrackedBox((x1, y1, min(x2, size_hw[1]), min(y2, size_hw[0])),
                                        float(peaks[k]))
        return result
