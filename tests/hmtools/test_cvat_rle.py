"""CVAT's box RLE <-> COCO RLE on odd shapes."""

import numpy as np
import pytest

from hmtools.errors import RLEError
from hmtools.formats.cvat_rle import (
    box_mask_to_runs,
    coco_rle_to_cvat,
    coco_rle_to_cvat_points,
    cvat_points_to_coco_rle,
    cvat_to_coco_rle,
    runs_to_box_mask,
)
from hmtools.rle import empty_rle, mask_to_rle, rle_to_mask


def _roundtrip(mask: np.ndarray) -> None:
    rle = mask_to_rle(mask)
    runs, left, top, width, height = coco_rle_to_cvat(rle)
    back = cvat_to_coco_rle(runs, left, top, width, height, mask.shape)
    assert back.counts == rle.counts  # compressed COCO counts are canonical
    assert (rle_to_mask(back) == mask).all()
    assert cvat_points_to_coco_rle(coco_rle_to_cvat_points(rle), mask.shape).counts == rle.counts


def _mask(h, w, pixels=()):
    m = np.zeros((h, w), bool)
    for y, x in pixels:
        m[y, x] = True
    return m


@pytest.mark.parametrize("mask", [
    np.ones((4, 4), bool),                                  # full
    np.ones((1, 1), bool),                                  # 1x1 image, full
    _mask(4, 4, [(0, 0)]),                                  # one pixel, top-left
    _mask(4, 5, [(3, 4)]),                                  # one pixel, bottom-right
    _mask(3, 7, [(1, 3)]),                                  # one pixel inside
    _mask(4, 4, [(0, 1), (1, 0), (3, 2), (2, 3)]),          # touches every border, holes
    _mask(5, 3, [(0, 0), (4, 2)]),                          # opposite corners
    np.pad(np.ones((2, 3), bool), ((0, 0), (0, 0))),        # full 2x3
])
def test_roundtrip_odd_shapes(mask):
    _roundtrip(mask)


def test_roundtrip_random():
    rng = np.random.default_rng(0)
    for _ in range(50):
        h, w = rng.integers(1, 9, 2)
        m = rng.random((h, w)) < rng.random()
        if m.any():
            _roundtrip(m)


def test_known_encoding_is_row_major_with_leading_background():
    m = _mask(4, 5, [(1, 2), (1, 3), (2, 3)])
    # Box x 2..3, y 1..2: row 0 = [1, 1], row 1 = [0, 1] -> runs 0 (bg), 2 (fg), 1 (bg), 1 (fg).
    assert coco_rle_to_cvat(mask_to_rle(m)) == ("0, 2, 1, 1", 2, 1, 2, 2)
    assert coco_rle_to_cvat_points(mask_to_rle(m)) == [0, 2, 1, 1, 2, 1, 3, 2]
    # A COCO RLE (column-major) of the same mask has different runs: the orders really differ.
    assert box_mask_to_runs(np.array([[1, 1], [0, 1]], bool).T) == [0, 1, 1, 2]


def test_runs_helpers_inverse():
    box = np.array([[0, 1, 1], [1, 0, 0]], bool)
    assert box_mask_to_runs(box) == [1, 3, 2]
    assert (runs_to_box_mask([1, 3, 2], 2, 3) == box).all()


def test_empty_mask_has_no_cvat_form():
    with pytest.raises(ValueError, match="empty"):
        coco_rle_to_cvat(empty_rle((4, 4)))


def test_whitespace_and_no_spaces_accepted():
    a = cvat_to_coco_rle("0,2,1,1", 2, 1, 2, 2, (4, 5))
    b = cvat_to_coco_rle(" 0 , 2, 1 ,1 ", 2, 1, 2, 2, (4, 5))
    assert a.counts == b.counts and a.area == 3


@pytest.mark.parametrize("runs, box, error", [
    ("0, 2, 1", (2, 1, 2, 2), "sum to 3"),
    ("0, 2, 1, 1, 1", (2, 1, 2, 2), "sum to 5"),
    ("0, -2, 1, 1", (2, 1, 2, 2), "non-negative"),
    ("a, 2", (2, 1, 2, 2), "non-negative integers"),
    ("", (2, 1, 2, 2), "empty"),
    ("0, 4", (4, 1, 2, 2), "leaves"),         # box right edge past W=5
    ("0, 4", (2, 3, 2, 2), "leaves"),         # box bottom past H=4
    ("0", (2, 1, 0, 2), "empty"),
    ("99999999999", (0, 0, 1, 1), "non-negative integers"),
])
def test_invalid_cvat_rle_refused(runs, box, error):
    with pytest.raises(RLEError, match=error):
        cvat_to_coco_rle(runs, *box, (4, 5), where="t")


def test_bad_box_values_refused():
    for bad in ("nan", "-1", "1.5", "inf", "x"):
        with pytest.raises(RLEError):
            cvat_to_coco_rle("0, 1", bad, 0, 1, 1, (4, 5))
