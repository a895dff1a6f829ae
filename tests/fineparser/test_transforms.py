"""Joint frame + mask transforms (``fineparser/transforms.py``)."""

import numpy as np

from fineparser.transforms import CropParams


def test_crop_params_transform_frames_and_masks_identically():
    rng = np.random.default_rng(3)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:20, 5:15] = 1
    image = np.zeros((40, 48, 3), np.uint8)
    image[mask.astype(bool)] = 255
    seen_flip = False
    for _ in range(10):
        p = CropParams.draw((32, 32), 1.25, train=True, flip=True, rng=rng)
        seen_flip |= p.flip
        out_img, out_mask = p.apply(image), p.apply(mask, nearest=True)
        assert out_img.shape == (32, 32, 3) and out_mask.shape == (32, 32)
        bright = out_img[..., 0] > 127
        assert (bright == out_mask.astype(bool)).mean() > 0.97
    assert seen_flip
    central = CropParams.draw((32, 32), 1.25, train=False, flip=True, rng=rng)
    assert central == CropParams((40, 40), (4, 4), (32, 32), False)
