"""Joint frame + mask transforms of a clip window (:class:`CropParams`) and frame decoding.

A clip's transform is drawn once and applied identically to every frame and mask: resize to
``resize_scale * frame_size`` or to the model's ``resize_hw`` (:func:`resize_target`; bilinear, or
area when shrinking, for frames; nearest for masks),
crop to the model's frame size (random while training, central otherwise), horizontal flip
(training only). The resize is deterministic and the crop and flip are cheap, which is what lets
:class:`~fineparser.dataset.ClipCache` keep resized clips.

Example:
    >>> p = CropParams.draw((224, 224), 8 / 7, train=False, flip=False, rng=rng)  # doctest: +SKIP
    >>> p.apply(read_frame_rgb("img_00001.jpg")).shape                         # doctest: +SKIP
    (224, 224, 3)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hmtools.errors import DatasetError


def resize_target(mcfg, resize_scale: float) -> float | tuple[int, int]:
    """What frames are resized to before the crop: the model's ``resize_hw`` (H, W) when it sets
    one (the published codes' fixed sizes), else the scale ``resize_scale`` of the frame size."""
    return tuple(mcfg.resize_hw) if getattr(mcfg, "resize_hw", None) is not None else resize_scale


@dataclass(frozen=True)
class CropParams:
    """One clip's geometric transform: resize to ``resize_hw``, crop ``out_hw`` at ``crop_yx``, flip."""

    resize_hw: tuple[int, int]
    crop_yx: tuple[int, int]
    out_hw: tuple[int, int]
    flip: bool

    @classmethod
    def draw(cls, out_hw: tuple[int, int], resize_scale: float | tuple[int, int], train: bool,
             flip: bool, rng: np.random.Generator) -> CropParams:
        """Random crop position and flip while training; central crop, no flip otherwise.

        ``resize_scale``: a factor of ``out_hw``, or a fixed (H, W) (:func:`resize_target`).
        """
        oh, ow = out_hw
        if isinstance(resize_scale, (tuple, list)):
            rh, rw = max(oh, int(resize_scale[0])), max(ow, int(resize_scale[1]))
        else:
            rh, rw = max(oh, round(oh * resize_scale)), max(ow, round(ow * resize_scale))
        if train:
            y, x = int(rng.integers(0, rh - oh + 1)), int(rng.integers(0, rw - ow + 1))
            do_flip = bool(flip and rng.random() < 0.5)
        else:
            y, x, do_flip = (rh - oh) // 2, (rw - ow) // 2, False
        return cls((rh, rw), (y, x), (oh, ow), do_flip)

    def apply(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """Transform an (H, W, 3) frame or an (H, W) mask (``nearest=True``)."""
        return self.crop(self.resize(image, nearest))

    def resize(self, image: np.ndarray, nearest: bool = False) -> np.ndarray:
        """The deterministic first half of :meth:`apply`: resize to ``resize_hw``."""
        import cv2

        rh, rw = self.resize_hw
        interp = cv2.INTER_NEAREST if nearest else (
            cv2.INTER_AREA if image.shape[0] > rh and image.shape[1] > rw else cv2.INTER_LINEAR)
        return cv2.resize(image, (rw, rh), interpolation=interp)

    def crop(self, resized: np.ndarray, stacked: bool = False) -> np.ndarray:
        """The random second half of :meth:`apply`: crop (and flip) one resized image
        ``(rh, rw[, 3])``, or with ``stacked`` a stack ``(F, rh, rw[, 3])``."""
        y, x = self.crop_yx
        axis = 1 if stacked else 0
        index = [slice(None)] * resized.ndim
        index[axis] = slice(y, y + self.out_hw[0])
        index[axis + 1] = slice(x, x + self.out_hw[1])
        out = resized[tuple(index)]
        if self.flip:
            out = np.flip(out, axis=axis + 1)
        return np.ascontiguousarray(out)


def read_frame_rgb(path: bytes | str, size_hw: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one image file as (H, W, 3) uint8 RGB; DatasetError naming it when it is unreadable,
    truncated, undecodable or (with ``size_hw``) of another size (:func:`hmtools.video.read_frame_image`)."""
    import cv2

    from hmtools.errors import VideoError
    from hmtools.video import read_frame_image

    try:
        image = read_frame_image(os.fsdecode(path), size_hw)
    except VideoError as err:
        raise DatasetError(str(err)) from None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
