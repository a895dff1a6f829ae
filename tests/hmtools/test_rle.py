"""hmtools.rle: round trips against pycocotools, Fortran order, areas, validation of untrusted counts."""

import pickle

import numpy as np
import pytest
from pycocotools import mask as cocomask

import hmtools.rle as rle_module
from hmtools.errors import RLEError
from hmtools.rle import (RLE, _encode_counts_string, areas, counts_to_runs, decode_counts, empty_rle, fill_area_bbox,
                         iou, mask_to_rle, masks_to_rles, rle_from_counts, rle_to_mask, rles_to_masks, union,
                         validate_counts)


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


def test_lazy_area_and_box_behave_like_stored_ones():
    import dataclasses
    import pickle

    m = _masks()["border"]
    lazy = mask_to_rle(m)
    stored = RLE(m.shape, lazy.counts, int(m.sum()), (0, 0, 7, 5))
    assert lazy._area is None and lazy._bbox_xywh is None  # nothing computed on encode
    assert lazy == stored and hash(lazy) == hash(stored)  # equality computes them
    assert (lazy.area, lazy.bbox_xywh) == (int(m.sum()), (0, 0, 7, 5))
    assert repr(lazy) == repr(stored) and f"area={int(m.sum())}," in repr(lazy)
    assert RLE(m.shape, lazy.counts, 3, (0, 0, 7, 5)) != stored  # a given area is kept as given
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.area = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        lazy.counts = "0"
    fresh = mask_to_rle(m)
    back = pickle.loads(pickle.dumps(fresh))
    assert back == stored and back.counts == fresh.counts and back.size_hw == (5, 7)
    assert {lazy, stored} == {stored}
    assert not mask_to_rle(m).empty and mask_to_rle(np.zeros((3, 3), bool)).empty


def test_fill_area_bbox_in_batches_of_mixed_sizes():
    rng = np.random.default_rng(3)
    masks = [rng.random((int(rng.integers(1, 9)), int(rng.integers(1, 9)))) > 0.5 for _ in range(600)]
    rles = [mask_to_rle(m) for m in masks]
    rles[5] = RLE(rles[5].size_hw, rles[5].counts, 77, (1, 2, 3, 4))  # given values are kept
    fill_area_bbox(rles)
    for i, (m, r) in enumerate(zip(masks, rles)):
        assert r._area is not None and r._bbox_xywh is not None
        if i == 5:
            assert (r.area, r.bbox_xywh) == (77, (1, 2, 3, 4))
            continue
        ref = cocomask.encode(np.asfortranarray(m.astype(np.uint8)))
        assert r.area == int(m.sum())
        assert r.bbox_xywh == tuple(int(v) for v in cocomask.toBbox(ref))
    batch = masks_to_rles(rng.random((300, 4, 6)) > 0.5)  # filled at once
    assert all(r._area is not None and r._bbox_xywh is not None for r in batch)


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


# -- validate_counts against a plain-Python reference --------------------------------------------

def _reference_runs(counts: str) -> tuple[list[int], int]:
    """pycocotools' ``rleFrString`` in plain Python with exact integers: (runs, longest number in
    characters). Expects an ASCII string over '0'..'o' that does not end inside a number."""
    runs, p, longest = [], 0, 0
    while p < len(counts):
        x = k = 0
        more = True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
        longest = max(longest, k)
    return runs, longest


def _reference_validate(counts, sizes_hw, where):
    """The checks of ``validate_counts``, one string at a time, in the documented order; returns the
    areas or raises RLEError with the same message."""
    def first(bad, message):
        for i, c in enumerate(counts):
            if bad(i, c):
                raise RLEError(f"{where[i]}: {message}")

    first(lambda i, c: c == "", "counts string is empty")
    first(lambda i, c: not c.isascii(), "counts contain non-ASCII characters")
    first(lambda i, c: any(not 48 <= ord(ch) <= 111 for ch in c), "counts contain a character outside COCO's alphabet")
    first(lambda i, c: (ord(c[-1]) - 48) & 0x20, "counts end in the middle of a run (truncated string)")
    decoded = [_reference_runs(c) for c in counts]
    first(lambda i, c: decoded[i][1] > 13, "counts hold a run too long to be real")
    for i, (h, w) in enumerate(sizes_hw):
        if h <= 0 or w <= 0:
            raise RLEError(f"{where[i]}: size must be positive, got [{h}, {w}]")
    first(lambda i, c: min(decoded[i][0]) < 0, "counts decode to a negative run")
    first(lambda i, c: max(decoded[i][0]) >= 2 ** 32, "counts hold a run too long to be real")
    for i, ((runs, _), (h, w)) in enumerate(zip(decoded, sizes_hw)):
        if sum(runs) != h * w:
            raise RLEError(f"{where[i]}: runs sum to {sum(runs)}, expected H*W = {h}x{w} = {h * w}")
    return [sum(runs[1::2]) for runs, _ in decoded]


def _outcome(fn, *args):
    try:
        return list(map(int, fn(*args)))
    except RLEError as err:
        return f"RLEError: {err}"


def _padded_counts(runs, rng, pad_prob=0.3, max_pad=8):
    """Compressed counts of ``runs`` where some numbers carry redundant sign-extension characters
    (still valid: pycocotools decodes them to the same runs), up to 13+ characters a number."""
    out = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        number = _encode_counts_string([x])
        if rng.random() < pad_prob:
            fill = "O" if x < 0 else "0"  # digit 0x1F (negative) or 0, neither with continuation
            top = chr(ord(number[-1]) + 0x20)  # the old last character now continues
            number = number[:-1] + top + chr(ord(fill) + 0x20) * int(rng.integers(0, max_pad)) + fill
        out.append(number)
    return "".join(out)


def _random_mask(rng):
    h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    kind = rng.integers(4)
    if kind == 0:
        return rng.random((h, w)) < rng.random()
    m = np.zeros((h, w), bool)
    if kind == 1:
        m[int(rng.integers(h)):, int(rng.integers(w)):] = True
    elif kind == 2:
        m[:] = True
    return m


def _random_batch(rng, most):
    """1 to ``most - 1`` random masks: their counts strings and sizes."""
    masks = [_random_mask(rng) for _ in range(int(rng.integers(1, most)))]
    return [mask_to_rle(m).counts for m in masks], [m.shape for m in masks]


def _corrupt(counts, rng):
    """One random corruption of a counts string (it may happen to stay valid)."""
    alphabet = [chr(c) for c in range(48, 112)]
    pos = int(rng.integers(len(counts))) if counts else 0
    kind = int(rng.integers(9))
    if kind == 0:  # replace a character with one of the alphabet
        return counts[:pos] + rng.choice(alphabet) + counts[pos + 1:]
    if kind == 1:  # insert one
        return counts[:pos] + rng.choice(alphabet) + counts[pos:]
    if kind == 2:  # drop one
        return counts[:pos] + counts[pos + 1:]
    if kind == 3:  # cut the string
        return counts[:pos]
    if kind == 4:  # a character outside the alphabet
        return counts[:pos] + rng.choice(list("!/p~ \x7f")) + counts[pos + 1:]
    if kind == 5:  # non-ASCII
        return counts[:pos] + "\u00e9" + counts[pos:]
    if kind == 6:  # a long run of continuation characters
        return counts[:pos] + rng.choice(list("Pof_")) * int(rng.integers(5, 16)) + counts[pos:]
    if kind == 7:  # flip the sign bit of a character
        return counts[:pos] + chr(((ord(counts[pos]) - 48) ^ 0x10) + 48) + counts[pos + 1:] if counts else "0"
    return counts + rng.choice(alphabet)  # append


def test_validate_counts_matches_reference_on_valid_masks():
    rng = np.random.default_rng(10)
    masks = [_random_mask(rng) for _ in range(300)]
    counts = [mask_to_rle(m).counts for m in masks]
    sizes = [m.shape for m in masks]
    where = [f"mask {i}" for i in range(len(masks))]
    expected = [int(m.sum()) for m in masks]
    assert _reference_validate(counts, sizes, where) == expected
    assert validate_counts(counts, sizes, where=where).tolist() == expected


def test_validate_counts_matches_reference_on_redundant_long_numbers():
    # Numbers of 8 to 13+ characters go through the exact (Python int) path.
    rng = np.random.default_rng(11)
    for trial in range(60):
        masks = [_random_mask(rng) for _ in range(int(rng.integers(1, 6)))]
        counts, sizes = [], []
        for m in masks:
            runs = _runs_of(m)
            counts.append(_padded_counts(runs, rng, max_pad=int(rng.integers(1, 12))))
            sizes.append(m.shape)
        where = [f"t{trial} mask {i}" for i in range(len(masks))]
        ref = _outcome(_reference_validate, counts, sizes, where)
        assert _outcome(validate_counts, counts, sizes, where) == ref, counts
    assert isinstance(ref, (list, str))


def _runs_of(mask):
    flat = np.asfortranarray(mask).ravel(order="F").astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    return [0] + runs if flat[0] else runs


def test_runs_of_matches_pycocotools():
    rng = np.random.default_rng(12)
    for _ in range(50):
        m = _random_mask(rng)
        assert _encode_counts_string(_runs_of(m)) == mask_to_rle(m).counts


@pytest.mark.parametrize("seed,chunk_chars", [(0, None), (1, None), (2, 8), (3, 30)])
def test_validate_counts_matches_reference_on_corrupted_batches(seed, chunk_chars, monkeypatch):
    if chunk_chars is not None:  # tiny chunks: batches split, errors must still name the same string
        monkeypatch.setattr(rle_module, "_CHUNK_CHARS", chunk_chars)
    rng = np.random.default_rng(100 + seed)
    n_invalid = 0
    for trial in range(150):
        counts, sizes = _random_batch(rng, 12)
        for _ in range(int(rng.integers(1, 3))):
            i = int(rng.integers(len(counts)))
            if rng.random() < 0.1:
                h, w = sizes[i]
                sizes[i] = (h + int(rng.integers(-1, 2)), w)
            else:
                counts[i] = _corrupt(counts[i], rng)
        where = [f"s{seed} t{trial} mask {i}" for i in range(len(counts))]
        ref = _outcome(_reference_validate, counts, sizes, where)
        assert _outcome(validate_counts, counts, sizes, where) == ref, (counts, sizes)
        n_invalid += isinstance(ref, str)
    assert n_invalid > 100  # the corruptions exercise the error paths, not just valid strings


def test_validate_counts_reports_the_first_string_of_the_first_failing_check():
    good = _good()
    negative = _encode_counts_string([5, -3, 14])
    too_long = "o" * 20 + "0"
    where = ["a", "b", "c", "d"]
    # A too-long number (checked before runs) wins over an earlier negative run.
    with pytest.raises(RLEError, match="^d: counts hold a run too long"):
        validate_counts([good, negative, good, too_long], [(4, 4)] * 4, where=where)
    # Two strings with the same problem: the first is named.
    with pytest.raises(RLEError, match="^b: counts decode to a negative run"):
        validate_counts([good, negative, negative, good], [(4, 4)] * 4, where=where)
    # A wrong sum is checked last: a later negative run is named first.
    with pytest.raises(RLEError, match="^c: counts decode to a negative run"):
        validate_counts([_encode_counts_string([5, 4, 8]), good, negative, good], [(4, 4)] * 4, where=where)


def test_validate_counts_chunked_batch_names_the_same_string(monkeypatch):
    # A large batch is checked in chunks; an error found in an early chunk must not hide the
    # string the unchunked checks would name (a negative run ranks before a wrong sum).
    counts = [_good()] * 40
    counts[3] = _encode_counts_string([5, 4, 8])      # wrong sum, early
    counts[35] = _encode_counts_string([5, -3, 14])   # negative run, late
    monkeypatch.setattr(rle_module, "_CHUNK_CHARS", 10)
    with pytest.raises(RLEError, match="^#35: counts decode to a negative run"):
        validate_counts(counts, [(4, 4)] * 40, where=[f"#{i}" for i in range(40)])
    counts[35] = _good()
    with pytest.raises(RLEError, match="^#3: runs sum to 17"):
        validate_counts(counts, [(4, 4)] * 40, where=[f"#{i}" for i in range(40)])
    counts[3] = _good()
    assert validate_counts(counts, [(4, 4)] * 40).tolist() == [4] * 40
    # The sizes are checked once for the whole batch, yet a bad size still ranks after a too-long number.
    sizes = [(4, 4)] * 40
    sizes[30] = (0, 4)
    counts[5] = "o" * 20 + "0"
    with pytest.raises(RLEError, match="^#5: counts hold a run too long"):
        validate_counts(counts, sizes, where=[f"#{i}" for i in range(40)])
    counts[5] = _good()
    with pytest.raises(RLEError, match=r"^#30: size must be positive, got \[0, 4\]"):
        validate_counts(counts, sizes, where=[f"#{i}" for i in range(40)])


def test_validate_counts_person_masks_at_full_size():
    # Realistic sizes: multi-character numbers, hundreds of runs, one document's batch.
    rng = np.random.default_rng(13)
    yy, xx = np.mgrid[:256, :455]
    masks = []
    for _ in range(120):  # > 2 chunks of characters
        cy, cx = rng.integers(40, 216), rng.integers(40, 415)
        ry, rx = rng.integers(10, 60), rng.integers(5, 30)
        m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        m[rng.random(m.shape) < 0.002] = True  # specks: many short runs
        masks.append(m)
    masks.append(np.zeros((256, 455), bool))
    masks.append(np.ones((256, 455), bool))
    counts = [mask_to_rle(m).counts for m in masks]
    where = [str(i) for i in range(len(masks))]
    expected = [int(m.sum()) for m in masks]
    assert _reference_validate(counts, [(256, 455)] * len(masks), where) == expected
    assert validate_counts(counts, [(256, 455)] * len(masks), where=where).tolist() == expected


def test_validate_counts_sizes_and_defaults():
    counts = [_good(), _good((3, 5))]
    assert validate_counts(counts, [(4, 4), (3, 5)]).tolist() == [4, 4]
    with pytest.raises(RLEError, match="^RLE #1: runs sum to 15, expected H\\*W = 4x4"):
        validate_counts(counts, [(4, 4), (4, 4)])
    with pytest.raises(RLEError, match="^RLE #1: size must be positive"):
        validate_counts(counts, [(4, 4), (0, 5)])
    assert validate_counts([], []).tolist() == []


# -- decoding from the checked runs (np.repeat) against pycocotools ------------------------------

def _decode_cases():
    """Masks whose runs stress the decoder: odd shapes, empty, full, 1xN and Nx1, foreground first
    (first run 0), runs longer than 2**16, odd and even numbers of runs, random shapes."""
    rng = np.random.default_rng(20)
    cases = list(_masks().values())
    cases += [np.zeros((1, 1), bool), np.ones((1, 1), bool), np.ones((1, 9), bool), np.zeros((9, 1), bool),
              np.array([[1, 0, 1, 1, 0]], bool), np.array([[1], [1], [0], [1]], bool)]
    long_runs = np.zeros((300, 301), bool)  # a background run of 2 * 300 * 150 + 7 pixels, then foreground
    long_runs[7:, 150:] = True
    cases += [long_runs, ~long_runs, np.ones((257, 300), bool)]
    for _ in range(200):
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        m = rng.random((h, w)) < rng.random()
        if rng.random() < 0.3:
            m.flat[0] = True  # foreground first
        cases.append(m)
    return cases


def _coco_decode(counts: str, size_hw) -> np.ndarray:
    return cocomask.decode({"size": list(size_hw), "counts": counts.encode("ascii")})


def _same_array(ours: np.ndarray, ref: np.ndarray) -> None:
    """Equal to pycocotools' 0/1 uint8 array, as bool, in its layout; writeable."""
    assert ours.dtype == bool and ours.shape == ref.shape
    # The same memory layout (a stride along an axis of length 1 is never used).
    assert [s for s, n in zip(ours.strides, ours.shape) if n > 1] == [s for s, n in zip(ref.strides, ref.shape) if n > 1]
    assert ours.flags.f_contiguous == ref.flags.f_contiguous and ours.flags.c_contiguous == ref.flags.c_contiguous
    assert ours.flags.writeable
    assert np.array_equal(ours.view(np.uint8), ref)


def test_decode_cases_cover_odd_and_even_runs_and_foreground_first():
    runs = [_runs_of(m) for m in _decode_cases()]
    assert {len(r) % 2 for r in runs} == {0, 1}
    assert any(r[0] == 0 for r in runs) and max(max(r) for r in runs) > 2 ** 16


def test_counts_to_runs_matches_reference_runs():
    cases = _decode_cases()
    counts = [mask_to_rle(m).counts for m in cases]
    areas_, runs, n_runs = counts_to_runs(counts, [m.shape for m in cases])
    assert runs.dtype == np.uint32 and n_runs.tolist() == [len(_reference_runs(c)[0]) for c in counts]
    assert runs.tolist() == [r for c in counts for r in _reference_runs(c)[0]]
    assert areas_.tolist() == [int(m.sum()) for m in cases]


@pytest.mark.parametrize("chunk_chars", [None, 40])
def test_decoders_match_pycocotools_exactly(chunk_chars, monkeypatch):
    if chunk_chars is not None:  # a batch checked in many chunks hands back the same runs
        monkeypatch.setattr(rle_module, "_CHUNK_CHARS", chunk_chars)
    cases = _decode_cases()
    counts = [mask_to_rle(m).counts for m in cases]
    sizes = [m.shape for m in cases]
    refs = [_coco_decode(c, s) for c, s in zip(counts, sizes)]
    for m, ours, ref in zip(cases, decode_counts(counts, sizes), refs):
        _same_array(ours, ref)
        assert np.array_equal(ours, m)
    for c, s, ref in zip(counts, sizes, refs):
        rle = rle_from_counts(c, s)
        assert rle._runs is not None  # decoded from its checked runs, not by pycocotools
        _same_array(rle_to_mask(rle), ref)
        _same_array(rle_to_mask(RLE(s, c)), ref)  # no runs kept: pycocotools


def test_rles_to_masks_matches_pycocotools_with_odd_and_even_runs():
    rng = np.random.default_rng(21)
    masks = rng.random((40, 7, 5)) < 0.5
    masks[::3, 0, 0] = True  # foreground first in some
    masks[5] = False
    masks[6] = True
    rles = masks_to_rles(masks)
    assert {len(_runs_of(m)) % 2 for m in masks} == {0, 1}
    ours = rles_to_masks(rles)
    ref = cocomask.decode([r.to_coco() for r in rles]).transpose(2, 0, 1)
    assert ours.dtype == bool and ours.shape == ref.shape and ours.strides == ref.strides
    assert np.array_equal(ours, masks) and ours.flags.writeable
    with pytest.raises(ValueError, match="one size"):
        rles_to_masks([rles[0], mask_to_rle(np.zeros((5, 7), bool))])


def test_decoded_masks_are_fresh_arrays_and_cached_runs_read_only():
    rle = rle_from_counts(mask_to_rle(np.eye(4, dtype=bool)).counts, (4, 4))
    first = rle_to_mask(rle)
    first[:] = True  # a caller may draw into its mask
    assert np.array_equal(rle_to_mask(rle), np.eye(4, dtype=bool))
    with pytest.raises(ValueError):
        rle._runs[0] = 3
    # The runs are a cache: not compared, hashed, pickled or printed.
    plain = RLE((4, 4), rle.counts)
    assert rle == plain and hash(rle) == hash(plain) and repr(rle) == repr(plain)
    assert pickle.loads(pickle.dumps(rle))._runs is None


@pytest.mark.parametrize("seed", [0, 1])
def test_decode_counts_rejects_what_validate_counts_rejects(seed):
    rng = np.random.default_rng(200 + seed)
    n_invalid = 0
    for trial in range(100):
        counts, sizes = _random_batch(rng, 8)
        i = int(rng.integers(len(counts)))
        counts[i] = _corrupt(counts[i], rng)
        where = [f"t{trial} mask {i}" for i in range(len(counts))]
        ref = _outcome(_reference_validate, counts, sizes, where)
        try:
            got = [int(m.sum()) for m in decode_counts(counts, sizes, where)]
        except RLEError as err:
            got = f"RLEError: {err}"
        assert got == ref, counts
        n_invalid += isinstance(ref, str)
        one = _outcome(_reference_validate, [counts[i]], [sizes[i]], ["x"])
        assert _outcome(lambda: [rle_from_counts(counts[i], sizes[i], where="x").area]) == one
    assert n_invalid > 50
