"""Joint frame + mask transforms (``fineparser/transforms.py``)."""

import numpy as np
import pytest

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


@pytest.mark.parametrize("preset,expected", [("tiny", 8 / 7), ("paper", (455, 256))])
def test_resize_before_the_crop_is_the_models_fixed_size_or_the_scale(preset, expected):
    from fineparser.model import get_config
    from fineparser.transforms import resize_target

    assert resize_target(get_config(preset), 8 / 7) == expected
    rng = np.random.default_rng(0)
    p = CropParams.draw((224, 224), resize_target(get_config("paper"), 8 / 7), True, False, rng)
    assert p.resize_hw == (455, 256) and 0 <= p.crop_yx[0] <= 455 - 224 and 0 <= p.crop_yx[1] <= 32
    assert p.apply(np.zeros((256, 455, 3), np.uint8)).shape == (224, 224, 3)
    fp = CropParams.draw((112, 112), (200, 112), False, False, rng)  # TSA / FineParser
    assert fp.resize_hw == (200, 112) and fp.crop_yx == (44, 0)
    with pytest.raises(ValueError, match="resize_hw"):
        get_config("tiny", resize_hw=(16, 64))
