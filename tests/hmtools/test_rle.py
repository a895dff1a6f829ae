"""hmtools.rle: round trips against pycocotools, Fortran order, areas, validation of untrusted counts."""

import numpy as np
import pytest
from pycocotools import mask as cocomask

from hmtools.errors import RLEError
from hmtools.rle import (RLE, _encode_counts_string, areas, empty_rle, iou, mask_to_rle, masks_to_rles,
                         rle_from_counts, rle_to_mask, rles_to_masks, union, validate_counts)


def _masks():
    """Odd shapes: empty, full, one pixel, borders, non-square, asymmetric."""
    out = {}
    out["empty"] = np.zeros((4, 4), bool)
    out["full"] = np.ones((4, 4), bool)
    one = np.zeros((3, 5), bool)
    one[2, 4] = True
    out["one_pixel_corner"] = one
    border = np.zeros((5, 7), bool)
    border[0, :] = border[-1, :] = border[:, 0] = border[:, -1] = True
    out["border"] = border
    tall = np.zeros((9, 2), bool)
    tall[3:, 1] = True
    out["tall"] = tall
    out["row"] = np.array([[0, 1, 1, 0, 1]], bool)
    out["col"] = np.array([[1], [0], [1]], bool)
    rng = np.random.default_rng(0)
    out["random"] = rng.random((13, 17)) > 0.5
    return out


@pytest.mark.parametrize("name", list(_masks()))
def test_round_trip_matches_pycocotools(name):
    m = _masks()[name]
    rle = mask_to_rle(m)
    ref = cocomask.encode(np.asfortranarray(m.astype(np.uint8)))
    assert rle.counts == ref["counts"].decode("ascii")
    assert rle.size_hw == m.shape
    assert rle.area == int(m.sum())
    assert np.array_equal(rle_to_mask(rle), m)
    x, y, w, h = rle.bbox_xywh
    if m.any():
        ys, xs = np.nonzero(m)
        assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)
    else:
        assert (x, y, w, h) == (0, 0, 0, 0)


def test_fortran_order_is_not_transposed():
    # An asymmetric mask: only the top-right pixel. Column-major runs: 3 rows x 3 cols ->
    # background run of 6 (two full columns), then the pixel, then 2 background.
    m = np.zeros((3, 3), bool)
    m[0, 2] = True
    rle = mask_to_rle(m)
    assert rle.counts == _encode_counts_string([6, 1, 2])
    assert rle_to_mask(rle)[0, 2] and rle_to_mask(rle).sum() == 1
    # A C-ordered input must give the same result as a Fortran-ordered one.
    assert mask_to_rle(np.ascontiguousarray(m)).counts == mask_to_rle(np.asfortranarray(m)).counts


def test_batch_encode_decode_and_areas_over_255_masks():
    rng = np.random.default_rng(1)
    masks = rng.random((300, 6, 5)) > 0.6
    rles = masks_to_rles(masks)
    assert len(rles) == 300
    assert np.array_equal(areas(rles), masks.reshape(300, -1).sum(1))
    assert np.array_equal(rles_to_masks(rles), masks)


def test_union_and_iou_without_decoding():
    a = np.zeros((4, 4), bool)
    a[:2, :2] = True
    b = np.zeros((4, 4), bool)
    b[1:3, 1:3] = True
    u = union([mask_to_rle(a), mask_to_rle(b)])
    assert np.array_equal(rle_to_mask(u), a | b)
    assert iou(mask_to_rle(a), mask_to_rle(b)) == pytest.approx(1 / 7)
    assert iou(empty_rle((4, 4)), empty_rle((4, 4))) == 1.0


def test_empty_rle_matches_pycocotools():
    for hw in [(1, 1), (4, 4), (256, 455)]:
        ref = cocomask.encode(np.zeros(hw, np.uint8, order="F"))["counts"].decode()
        assert empty_rle(hw).counts == ref
        assert empty_rle(hw).area == 0


def _good(hw=(4, 4)):
    m = np.zeros(hw, bool)
    m[1:3, 1:3] = True
    return mask_to_rle(m).counts


@pytest.mark.parametrize("counts,size,message", [
    ("", (4, 4), "empty"),
    (_encode_counts_string([5, 4, 8]), (4, 4), "runs sum to 17"),   # sum too large
    (_encode_counts_string([5, 4, 6]), (4, 4), "runs sum to 15"),   # sum too small
    (_good()[:-1] + "h", (4, 4), "truncated"),                     # continuation bit on the last char
    (_good() + "!", (4, 4), "alphabet"),                             # '!' < '0'
    (_good()[:2] + "\u00e9", (4, 4), "non-ASCII"),
    (_encode_counts_string([5, -3, 14]), (4, 4), "negative"),
    (_good(), (5, 4), r"expected H\*W = 5x4"),                                # valid string, other size
    ("o" * 20 + "0", (4, 4), "too long"),
    (_good(), (0, 4), "positive"),
])
def test_validate_counts_rejects(counts, size, message):
    with pytest.raises(RLEError, match=message):
        validate_counts([counts], [size], where=["doc.json frame 3"])
    with pytest.raises(RLEError, match="doc.json frame 3"):
        validate_counts([counts], [size], where=["doc.json frame 3"])


def test_validate_counts_names_the_bad_one_in_a_batch():
    counts = [_good(), _good(), _encode_counts_string([1, 2])]
    with pytest.raises(RLEError, match="third"):
        validate_counts(counts, [(4, 4)] * 3, where=["first", "second", "third"])


def test_validate_counts_accepts_everything_pycocotools_encodes():
    rng = np.random.default_rng(2)
    counts, sizes, expected = [], [], []
    for _ in range(200):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        m = rng.random((h, w)) < rng.random()
        if rng.random() < 0.3:  # blobs: long runs exercise multi-character numbers
            m = np.zeros((h, w), bool)
            m[: h // 2, : w // 2] = True
        counts.append(cocomask.encode(np.asfortranarray(m.astype(np.uint8)))["counts"].decode())
        sizes.append((h, w))
        expected.append(int(m.sum()))
    big = np.zeros((256, 455), bool)
    big[40:200, 100:140] = True
    counts.append(mask_to_rle(big).counts)
    sizes.append((256, 455))
    expected.append(int(big.sum()))
    assert validate_counts(counts, sizes).tolist() == expected


def test_rle_from_counts_builds_a_checked_rle():
    rle = rle_from_counts(_good(), (4, 4))
    assert isinstance(rle, RLE) and rle.area == 4 and rle.bbox_xywh == (1, 1, 2, 2)
    with pytest.raises(RLEError, match="frame 7"):
        rle_from_counts(_good(), (4, 5), where="frame 7")
    with pytest.raises(RLEError, match="size"):
        rle_from_counts(_good(), "4x4", where="frame 7")
