"""COCO run-length encoding of binary masks, through pycocotools.

Masks at rest are *compressed* COCO RLE: ``{"size": [H, W], "counts": "<ascii>"}``. Runs are
column-major (Fortran order) and start with a background run. pycocotools' C decoder trusts its
input (runs that overflow H*W write past the buffer; runs that fall short leave memory unset), so
every RLE that comes from a file is checked by :func:`validate_counts` before it is decoded; the
check is vectorised over many RLEs at once (a whole store document, in cache-sized chunks).
:func:`counts_to_runs` is the same check handing back the decoded runs: masks are then decoded
from them with one ``np.repeat`` each (8 us against pycocotools' 72 us on the benchmark's
person masks), never from unchecked runs.

Example:
    >>> m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
    >>> rle = mask_to_rle(m)
    >>> rle.area, rle.bbox_xywh
    (4, (1, 1, 2, 2))
    >>> bool((rle_to_mask(rle) == m).all())
    True
"""

from __future__ import annotations

from collections import deque
from dataclasses import FrozenInstanceError
from itertools import repeat
from typing import Iterable, Iterator, Sequence

import numpy as np
from pycocotools import mask as cocomask

from hmtools.errors import RLEError

# pycocotools with NumPy >= 2 overflows in area() on lists longer than 255 RLEs.
_AREA_CHUNK = 255


class RLE:
    """One compressed COCO RLE mask with its derived area and box.

    Immutable and hashable like a frozen dataclass. ``area`` and ``bbox_xywh`` may be given (a
    document stores them) or left out: they are then computed from the counts on first use (one
    pycocotools call each) and kept; :func:`fill_area_bbox` computes them for many RLEs in two calls.

    An RLE read from a store document (or built by :func:`rle_from_counts`) also keeps its
    checked runs (``_runs``: a read-only ``(R,)`` uint32 view into one array of the whole
    document's runs, see :func:`checked_rles`), so that :func:`rle_to_mask` decodes it without
    parsing the counts again. They are a cache, not a field: not compared, hashed, pickled or
    printed. Memory: 4 bytes a run and a 112-byte view, about 2.7 times the counts string (a
    464-character person mask: 309 runs, 1.2 kB), and any one RLE of a document keeps the whole
    document's array alive.

    Attributes:
        size_hw: ``(H, W)`` of the mask.
        counts: compressed COCO counts string (ASCII).
        area: number of foreground pixels.
        bbox_xywh: tight box ``(x, y, w, h)`` in pixels, ``(0, 0, 0, 0)`` for an empty mask.
    """

    __slots__ = ("size_hw", "counts", "_area", "_bbox_xywh", "_runs")

    def __init__(self, size_hw: tuple[int, int], counts: str, area: int | None = None,
                 bbox_xywh: tuple[int, int, int, int] | None = None):
        # The slots' own setters: half the time of object.__setattr__ (a document builds one RLE a mask).
        _set_size_hw(self, size_hw)
        _set_counts(self, counts)
        _set_area(self, area)
        _set_bbox_xywh(self, bbox_xywh)
        _set_runs(self, None)

    @property
    def area(self) -> int:
        if self._area is None:
            _set_area(self, int(cocomask.area(self.to_coco())))
        return self._area

    @property
    def bbox_xywh(self) -> tuple[int, int, int, int]:
        if self._bbox_xywh is None:
            _set_bbox_xywh(self, _bbox_tuple(cocomask.toBbox(self.to_coco())))
        return self._bbox_xywh

    def to_coco(self) -> dict:
        """The pycocotools form: ``{"size": [H, W], "counts": bytes}``."""
        return {"size": [int(self.size_hw[0]), int(self.size_hw[1])], "counts": self.counts.encode("ascii")}

    @property
    def empty(self) -> bool:
        return self.area == 0

    def _key(self) -> tuple:
        return self.size_hw, self.counts, self.area, self.bbox_xywh

    def __eq__(self, other):
        return self._key() == other._key() if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"RLE(size_hw={self.size_hw!r}, counts={self.counts!r}, area={self.area!r}, "
                f"bbox_xywh={self.bbox_xywh!r})")

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self):
        return RLE, (self.size_hw, self.counts, self._area, self._bbox_xywh)


_set_size_hw = RLE.size_hw.__set__
_set_counts = RLE.counts.__set__
_set_area = RLE._area.__set__
_set_bbox_xywh = RLE._bbox_xywh.__set__
_set_runs = RLE._runs.__set__


def checked_rles(size_hw: tuple[int, int], counts: Sequence[str], areas: Iterable[int],
                 bboxes_xywh: Iterable[tuple[int, int, int, int]], runs: Iterable[np.ndarray] | None = None
                 ) -> list[RLE]:
    """RLEs of one size from fields already checked (:func:`validate_counts` gave the areas), built
    in C-level passes over the lists instead of one ``__init__`` call a mask (a store document
    builds one a mask: this takes a third of the time). ``runs``: each RLE's checked runs, as
    :func:`counts_to_runs` split them (kept for :func:`rle_to_mask`), or None."""
    rles = list(map(object.__new__, repeat(RLE, len(counts))))
    for set_field, values in ((_set_size_hw, repeat(size_hw)), (_set_counts, counts), (_set_area, areas),
                              (_set_bbox_xywh, bboxes_xywh), (_set_runs, repeat(None) if runs is None else runs)):
        deque(map(set_field, rles, values), maxlen=0)
    return rles


def _bbox_tuple(xywh) -> tuple[int, int, int, int]:
    """pycocotools' float box (whole numbers) as an int tuple."""
    x, y, w, h = xywh.tolist()
    return int(x), int(y), int(w), int(h)


def fill_area_bbox(rles: Sequence[RLE]) -> None:
    """Compute the area and box of every RLE that lacks them, with two pycocotools calls per 255
    RLEs instead of two per RLE (the RLEs may have different sizes)."""
    todo = [r for r in rles if r._area is None or r._bbox_xywh is None]
    for start in range(0, len(todo), _AREA_CHUNK):
        chunk = todo[start:start + _AREA_CHUNK]
        cocos = [r.to_coco() for r in chunk]
        for r, area, box in zip(chunk, cocomask.area(cocos).tolist(), cocomask.toBbox(cocos).tolist()):
            if r._area is None:
                _set_area(r, int(area))
            if r._bbox_xywh is None:
                _set_bbox_xywh(r, (int(box[0]), int(box[1]), int(box[2]), int(box[3])))


def mask_to_rle(mask: np.ndarray) -> RLE:
    """Encode one ``(H, W)`` boolean/0-1 mask as compressed COCO RLE (area and box on first use)."""
    if mask.ndim != 2:
        raise ValueError(f"mask_to_rle expects an (H, W) mask, got shape {mask.shape}")
    # Cast first, then transpose: one fused cast+transpose copy is ~25 % slower in NumPy.
    coco = cocomask.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return RLE(mask.shape, coco["counts"].decode("ascii"))


def masks_to_rles(masks: np.ndarray) -> list[RLE]:
    """Encode ``(N, H, W)`` masks in one pycocotools call, with their areas and boxes
    (:func:`fill_area_bbox`)."""
    if masks.ndim != 3:
        raise ValueError(f"masks_to_rles expects (N, H, W) masks, got shape {masks.shape}")
    if len(masks) == 0:
        return []
    cocos = cocomask.encode(np.asfortranarray(masks.astype(np.uint8, copy=False).transpose(1, 2, 0)))
    size = masks.shape[1:]
    rles = [RLE(size, c["counts"].decode("ascii")) for c in cocos]
    fill_area_bbox(rles)
    return rles


def _from_coco(coco: dict) -> RLE:
    h, w = coco["size"]
    return RLE((int(h), int(w)), coco["counts"].decode("ascii"))


def rle_to_mask(rle: RLE) -> np.ndarray:
    """Decode one RLE to an ``(H, W)`` bool array, Fortran-ordered and writeable (pycocotools'
    layout). The RLE must be valid (see :func:`rle_from_counts`); one read from a store document
    or built by :func:`rle_from_counts` is decoded from the runs its check kept (one
    ``np.repeat``), any other by pycocotools."""
    if rle._runs is not None:
        return _runs_to_mask(rle._runs, rle.size_hw)
    # pycocotools takes the str counts and the size tuple as they are: no to_coco() copy.
    return cocomask.decode({"size": rle.size_hw, "counts": rle.counts}).view(bool)  # 0/1 uint8 -> bool, no copy


def rles_to_masks(rles: Sequence[RLE]) -> np.ndarray:
    """Decode RLEs of one size to ``(N, H, W)`` bool (each ``(H, W)`` plane Fortran-ordered, as
    pycocotools gives them): the counts are checked and parsed in one batch, then decoded with one
    ``np.repeat``.

    Raises:
        ValueError: no RLEs, or RLEs of different sizes.
    """
    if not rles:
        raise ValueError("rles_to_masks needs at least one RLE")
    size = rles[0].size_hw
    if any(r.size_hw != size for r in rles):
        raise ValueError(f"rles_to_masks needs RLEs of one size, got {sorted({r.size_hw for r in rles})}")
    _, runs, n_runs = counts_to_runs([r.counts for r in rles], [size] * len(rles))
    return _runs_to_masks(runs, n_runs, size)


def decode_counts(counts: Sequence[str], sizes_hw: Sequence[Sequence[int]],
                  where: Sequence[str] | None = None) -> Iterator[np.ndarray]:
    """Check compressed counts strings at once, then decode them one by one to ``(H, W)`` bool
    masks (Fortran-ordered, writeable, as :func:`rle_to_mask` gives them): one batch parse for
    all, one ``np.repeat`` a mask, and only the mask at hand is dense.

    Example:
        >>> [int(m.sum()) for m in decode_counts([mask_to_rle(np.eye(3, dtype=bool)).counts], [(3, 3)])]
        [3]

    Raises:
        RLEError: for the first invalid string, as :func:`validate_counts`, before any mask is decoded.
    """
    _, runs, n_runs = counts_to_runs(counts, sizes_hw, where)
    return map(_runs_to_mask, split_runs(runs, n_runs), sizes_hw)


# 0, 1, 0, 1, ...: the value of each run of a mask; grown when a mask has more runs.
_alternating = np.resize(np.array([0, 1], np.uint8), 4096)


def _run_values(n: int) -> np.ndarray:
    """(n,) uint8 0, 1, 0, 1, ... (a view of a shared array: read it, never write it)."""
    global _alternating
    if n > _alternating.size:
        _alternating = np.resize(np.array([0, 1], np.uint8), 2 * n)
    return _alternating[:n]


def _runs_to_mask(runs: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool from one mask's checked runs (they sum to H*W, none negative)."""
    h, w = size_hw
    # COCO runs are column-major: the (W, H) C-order array, transposed, is pycocotools' Fortran-ordered (H, W).
    return np.repeat(_run_values(runs.size), runs).view(bool).reshape(w, h).T


def _runs_to_masks(runs: np.ndarray, n_runs: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """``(N, H, W)`` bool from the checked runs of N masks of one size, one after another
    (``n_runs``: (N,) runs of each). A mask's runs alternate from background at its own start: a
    zero-length run after each mask with an odd number of runs keeps the next one's parity."""
    odd = np.flatnonzero(n_runs & 1)
    if odd.size:
        runs = np.insert(runs, np.cumsum(n_runs)[odd], 0)
    h, w = size_hw
    flat = np.repeat(_run_values(runs.size), runs)
    return flat.view(bool).reshape(n_runs.size, w, h).transpose(0, 2, 1)


def empty_rle(size_hw: tuple[int, int]) -> RLE:
    """The RLE of an all-background mask (annotated, nobody there)."""
    h, w = size_hw
    return RLE((int(h), int(w)), _encode_counts_string([h * w]), 0, (0, 0, 0, 0))


def union(rles: Sequence[RLE]) -> RLE:
    """Pixel-wise OR of RLEs of one size, without decoding."""
    if not rles:
        raise ValueError("union needs at least one RLE")
    if len(rles) == 1:
        return rles[0]
    return _from_coco(cocomask.merge([r.to_coco() for r in rles], intersect=False))


def iou(a: RLE, b: RLE) -> float:
    """Intersection over union of two masks (1.0 when both are empty)."""
    if a.area == 0 and b.area == 0:
        return 1.0
    return float(cocomask.iou([a.to_coco()], [b.to_coco()], [0])[0, 0])


def areas(rles: Sequence[RLE]) -> np.ndarray:
    """Areas from the counts (chunked: pycocotools' area() overflows past 255 RLEs)."""
    out = np.empty(len(rles), dtype=np.int64)
    for start in range(0, len(rles), _AREA_CHUNK):
        chunk = [r.to_coco() for r in rles[start:start + _AREA_CHUNK]]
        out[start:start + len(chunk)] = cocomask.area(chunk)
    return out


def rle_from_counts(counts: str, size_hw: Sequence[int], *, where: str = "RLE") -> RLE:
    """Build an :class:`RLE` from an untrusted counts string, validating it first.

    Raises:
        RLEError: naming ``where`` when the string is not valid compressed COCO RLE of ``size_hw``.
    """
    size = _check_size(size_hw, where)
    area, runs, _ = counts_to_runs([counts], [size], where=[where])
    rle = RLE(size, counts, int(area[0]))
    runs.flags.writeable = False
    _set_runs(rle, runs)  # kept for rle_to_mask (see RLE)
    return rle


def _check_size(size_hw: Sequence[int], where: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size_hw)
    except (TypeError, ValueError):
        raise RLEError(f"{where}: size must be [H, W], got {size_hw!r}") from None
    if h <= 0 or w <= 0:
        raise RLEError(f"{where}: size must be positive, got [{h}, {w}]")
    return h, w


# Longest number (characters) accepted in a counts string: pycocotools accumulates in 64 bits.
_MAX_DIGITS = 13
# Numbers of up to 7 characters (35 bits, every delta of a run below 2**32) decode exactly in int64;
# longer ones, which pycocotools itself never writes, take an exact Python-int path.
_INT64_DIGITS = 7
# validate_counts works through a batch in chunks of about this many characters: the temporary
# arrays then stay in the CPU cache and the heap (no fresh pages from the OS for every array).
_CHUNK_CHARS = 32768


def validate_counts(counts: Sequence[str], sizes_hw: Sequence[Sequence[int]],
                    where: Sequence[str] | None = None) -> np.ndarray:
    """Check compressed COCO counts strings without trusting them; return their areas.

    Decodes every string's LEB128-like digits (pycocotools' ``rleFrString``: 6 bits a character,
    offset 48, continuation bit 0x20, sign bit 0x10 on a number's last character, runs after the
    third delta-coded against the run two before) vectorised over the batch, then checks that
    every run lies in ``[0, 2**32)`` and that each string's runs sum to H*W.

    Checks, in this order (the first failing check names the first string that fails it): empty
    string, non-ASCII character, character outside ``'0'..'o'``, string ending inside a number
    (truncated), number longer than 13 characters, size not positive, negative run, run of
    ``2**32`` or more, runs not summing to H*W.

    Args:
        counts: compressed counts strings.
        sizes_hw: one ``(H, W)`` per string.
        where: one label per string for error messages (file and frame).

    Returns:
        ``(len(counts),)`` int64 foreground areas.

    Raises:
        RLEError: for the first invalid string, naming it.
    """
    return _checked(counts, sizes_hw, where, False)


def counts_to_runs(counts: Sequence[str], sizes_hw: Sequence[Sequence[int]],
                   where: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`validate_counts` that also hands back the decoded runs, all strings' one after another.

    The same checks, errors and order; the runs come from the same pass (about 1.6 us more for
    a 309-run mask). :func:`split_runs` cuts them per string.

    Example:
        >>> areas, runs, n_runs = counts_to_runs([_encode_counts_string([0, 2, 2])], [(2, 2)])
        >>> areas.tolist(), runs.tolist(), n_runs.tolist()
        ([2], [0, 2, 2], [3])

    Returns:
        ``(areas, runs, n_runs)``: ``(n,)`` int64 foreground areas, ``(M,)`` uint32 runs (each
        string's sum to its H*W; a string's first run is background, 0 when the mask starts
        with foreground), ``(n,)`` int64 runs of each string.

    Raises:
        RLEError: for the first invalid string, naming it.
    """
    return _checked(counts, sizes_hw, where, True)


def split_runs(runs: np.ndarray, n_runs: np.ndarray) -> list[np.ndarray]:
    """:func:`counts_to_runs`' runs cut into one ``(R_i,)`` view per string; ``runs`` is made
    read-only first, so that no mask's cached runs can be changed through a view."""
    runs.flags.writeable = False
    return np.split(runs, np.cumsum(n_runs[:-1]))


def _checked(counts: Sequence[str], sizes_hw: Sequence[Sequence[int]], where: Sequence[str] | None,
             want_runs: bool):
    """:func:`validate_counts` (``want_runs`` False) or :func:`counts_to_runs` (True)."""
    n = len(counts)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return (empty, np.zeros(0, dtype=np.uint32), empty.copy()) if want_runs else empty

    def label(i: int) -> str:
        return where[i] if where is not None else f"RLE #{i}"

    if n > 1:
        lengths = np.fromiter(map(len, counts), dtype=np.int64, count=n)
        total = int(lengths.sum())
        if total > 2 * _CHUNK_CHARS:
            try:  # the sizes once for the whole batch, not once a chunk
                sizes, expected = _check_sizes(sizes_hw, label, n)
            except RLEError:
                sizes = None  # a check before the sizes' may fail first: the whole batch's checks say
            if sizes is not None:
                cuts = np.searchsorted(np.cumsum(lengths), np.arange(_CHUNK_CHARS, total, _CHUNK_CHARS))
                bounds = [0, *np.unique(cuts[(cuts > 0) & (cuts < n)]).tolist(), n]
                try:
                    parts = [_validate_chunk(counts[a:b], None, lambda i, a=a: label(a + i),
                                             (sizes[a:b], expected[a:b]), want_runs)
                             for a, b in zip(bounds[:-1], bounds[1:])]
                except RLEError:
                    pass  # name the string the whole batch's checks would name: run them on all of it
                else:
                    if want_runs:
                        return tuple(np.concatenate(p) for p in zip(*parts))
                    return np.concatenate(parts)
    return _validate_chunk(counts, sizes_hw, label, None, want_runs)


def _digit_table(last: bool) -> np.ndarray:
    """(256,) int64 by character code: the 5-bit digit of a number's last character, sign-extended
    (``last``), or the 5 low bits of any other character; 0 outside COCO's alphabet."""
    table = np.zeros(256, dtype=np.int64)
    d = np.arange(64)
    table[48:112] = (d & 0x1F) - 2 * (d & 0x10) if last else d & 0x1F
    return table


_LAST_DIGIT = _digit_table(last=True)
_LOW_BITS = _digit_table(last=False)
_RUN_LIMIT = 2 ** 32
_INT64_MAX, _INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def _validate_chunk(counts: Sequence[str], sizes_hw: Sequence[Sequence[int]] | None, label,
                    checked_sizes: tuple[list, np.ndarray] | None = None, want_runs: bool = False):
    """:func:`validate_counts` of one batch in one vectorised pass; ``label(i)`` names string i;
    ``checked_sizes``: :func:`_check_sizes` of the batch, already computed (then ``sizes_hw`` is unused);
    ``want_runs``: return :func:`counts_to_runs`' triple instead of the areas."""
    n = len(counts)
    lengths = np.fromiter(map(len, counts), dtype=np.int64, count=n)
    if lengths.min() == 0:
        raise RLEError(f"{label(int(np.argmin(lengths)))}: counts string is empty")
    try:
        chars = np.frombuffer("".join(counts).encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        bad = next(i for i, c in enumerate(counts) if not c.isascii())
        raise RLEError(f"{label(bad)}: counts contain non-ASCII characters") from None
    string_last = np.cumsum(lengths)
    string_last -= 1  # index of each string's last character
    if chars.min() < 48 or chars.max() > 111:  # COCO's alphabet: '0' + 0 .. '0' + 63
        bad = int(np.searchsorted(string_last, np.argmax((chars < 48) | (chars > 111))))
        raise RLEError(f"{label(bad)}: counts contain a character outside COCO's alphabet")
    last_char = chars < 80  # no continuation bit ('0' + 0x20): the last character of a number
    complete = last_char[string_last]
    if not complete.all():
        raise RLEError(f"{label(int(np.argmin(complete)))}: counts end in the middle of a run (truncated string)")
    ends = np.flatnonzero(last_char)  # (M,) last character of every number; none spans two strings
    values = _number_values(chars, last_char, ends, string_last, label)
    sizes, expected = checked_sizes if checked_sizes is not None else _check_sizes(sizes_hw, label, n)

    # Undo the delta coding (run k = value k + run k-2 for k > 2): the numbers of each parity of
    # the global number index form one chain of cumulative sums, and a string's runs of that parity
    # are the chain's sums minus the sum just before the string. Subtracting value 0 from value 2
    # starts the string's chain at run 2. Per string and parity, three reductions over the chain
    # (sum, min, max) check every run without making the (M,) array of runs.
    numbers_to = np.searchsorted(ends, string_last, side="right")  # (n,) numbers in strings 0..i
    first = np.empty_like(numbers_to)  # (n,) each string's first number
    first[0] = 0
    first[1:] = numbers_to[:-1]
    third = first[numbers_to - first >= 3]
    values[third + 2] -= values[third]
    negative = np.zeros(n, dtype=bool)
    sums, chains = [], []
    m = ends.size
    for parity in (0, 1):
        chain = np.empty((m + 1 - parity) // 2 + 2, dtype=values.dtype)  # 0, cumulative sums, pad
        chain[0] = 0
        np.cumsum(values[parity::2], out=chain[1:-1])
        start = (first + 1 - parity) // 2 + 1  # (n,) the string's first entry in the chain
        count = (numbers_to + 1 - parity) // 2 - (start - 1)  # (n,) its entries
        before = chain[start - 1]
        has = count > 0  # reduceat yields chain[start] for an empty string's segment: masked
        chain[-1] = 0  # the pad closes the last string's segment
        total = np.add.reduceat(chain, start)
        total -= count * before
        chain[-1] = _INT64_MAX if chain.dtype != object else chain[:-1].max()
        negative |= has & (np.minimum.reduceat(chain, start) < before)
        sums.append(np.where(has, total, 0))
        chains.append((chain, start, before, has, count))
    if negative.any():
        raise RLEError(f"{label(int(np.argmax(negative)))}: counts decode to a negative run")
    # No run is negative, so the sums are exact (no int64 wrap: a number has at most 7 characters
    # in int64, and is a Python int beyond) and a string with a run of 2**32 or more sums to more
    # than H*W: the maxima are only needed for the message of a wrong sum, or for huge sizes.
    totals = sums[0] + sums[1]
    wrong = totals != expected
    if wrong.any() or int(expected.max()) >= _RUN_LIMIT:
        too_long = np.zeros(n, dtype=bool)
        for chain, start, before, has, _ in chains:
            chain[-1] = _INT64_MIN if chain.dtype != object else chain[:-1].min()
            too_long |= has & (np.maximum.reduceat(chain, start) - before >= _RUN_LIMIT)
        if too_long.any():
            raise RLEError(f"{label(int(np.argmax(too_long)))}: counts hold a run too long to be real")
    if wrong.any():
        bad = int(np.argmax(wrong))
        raise RLEError(f"{label(bad)}: runs sum to {totals[bad]}, expected H*W = "
                       f"{sizes[bad][0]}x{sizes[bad][1]} = {expected[bad]}")
    areas = np.where(first & 1, sums[0], sums[1]).astype(np.int64, copy=False)
    if not want_runs:
        return areas
    # Every check passed: each run lies in [0, 2**32). A string's runs of one parity are its
    # chain's cumulative sums minus the sum before the string.
    runs = np.empty(m, dtype=np.uint32)
    for parity, (chain, _, before, _, count) in enumerate(chains):
        runs[parity::2] = chain[1:-1] - np.repeat(before, count)
    return areas, runs, numbers_to - first


_BACK = np.arange(6)  # a number's last character and the five before it
# The int16 value marking a number of three or more characters (the others lie in [-512, 512)).
_LONG_NUMBER = np.int16(-32768)


def _number_values(chars: np.ndarray, last_char: np.ndarray, ends: np.ndarray, string_last: np.ndarray,
                   label) -> np.ndarray:
    """(M,) the numbers of a batch of counts strings, ``ends`` their last characters' indices.

    Numbers, most significant (signed) digit last: v = ((d[L-1] * 32 + d[L-2]) * 32 + ...) + d[0].
    Those of one or two characters (nearly all: runs and their deltas are small) are computed for
    every character at once without branches (a mask's gather or ``np.where`` costs as much as
    the arithmetic of all characters), then gathered; the few longer ones are walked back.
    """
    low5 = chars & np.uint8(0x1F)
    value = low5.astype(np.int16)
    value -= 16  # the signed digit of a number's last character (digit ^ 0x10, minus 0x10)
    cont = chars[:-1] >= 80  # the character before carries the continuation bit: a second digit
    second = cont * value[1:]
    second *= 31
    second += cont * (low5[:-1] ^ np.uint8(0x10))
    value[1:] += second  # d[1] * 32 + d[0] where the number has two characters
    values = value.take(ends).astype(np.int64)
    longer = cont[:-1] & cont[1:]  # ... and the character before that: three or more
    longer &= last_char[2:]
    if not longer.any():
        return values
    long_ends = np.flatnonzero(longer)
    long_ends += 2
    at = np.searchsorted(ends, long_ends)  # their places among the numbers
    # Three to five characters (every run of a mask below 2**24 pixels): their digits gathered at
    # once. Index -1 or -2 wraps to the batch's end, whose last character ends a number.
    back = chars.take(long_ends[:, None] - _BACK)  # (K, 6): the last character, then the five before
    more = back[:, 3:] >= 80
    four = more[:, 0]
    five = four & more[:, 1]
    if not (five & more[:, 2]).any():
        low = _LOW_BITS.take(back[:, 1:5])
        v = _LAST_DIGIT.take(back[:, 0])
        v <<= 5
        v |= low[:, 0]
        v <<= 5
        v |= low[:, 1]
        v = np.where(four, (v << 5) | low[:, 2], v)
        values[at] = np.where(five, (v << 5) | low[:, 3], v)
        return values
    # Longer (only in RLEs that pycocotools did not write for a mask this size): a walk back.
    # The character ``step`` places before a number's last one is still the number's when it and
    # all characters after it carry the continuation bit. Index -1 wraps to the batch's last
    # character, which ends a number (checked by the caller), so a walk back stops there at the latest.
    long_values = _LAST_DIGIT.take(chars[long_ends])
    todo = np.arange(long_ends.size)
    digit = chars[long_ends - 1]
    step = 1
    while todo.size:
        if step == _MAX_DIGITS:
            bad = int(np.searchsorted(string_last, long_ends[todo[0]]))
            raise RLEError(f"{label(bad)}: counts hold a run too long to be real")
        if step == _INT64_DIGITS:  # adversarial input: go on in exact Python ints
            long_values = long_values.astype(object)
            values = values.astype(object)
        low = _LOW_BITS.take(digit)
        long_values[todo] = (long_values[todo] << 5) | (low.astype(object) if long_values.dtype == object else low)
        step += 1
        digit = chars[long_ends[todo] - step]
        more = digit >= 80
        todo, digit = todo[more], digit[more]
    values[at] = long_values
    return values


def _check_sizes(sizes_hw: Sequence[Sequence[int]], label, n: int) -> tuple[list, np.ndarray]:
    """:func:`_check_size` of every size: ``([(H, W)] * n, (n,) int64 H*W)``. A document passes one
    ``(H, W)`` object for all its masks: that one is checked once."""
    if len(sizes_hw) != n:
        raise ValueError(f"validate_counts: {n} counts strings but {len(sizes_hw)} sizes")
    first = sizes_hw[0]
    if all(size is first for size in sizes_hw):
        h, w = _check_size(first, label(0))
        return [(h, w)] * n, np.full(n, h * w, dtype=np.int64)
    checked = [_check_size(size, label(i)) for i, size in enumerate(sizes_hw)]
    return checked, np.asarray([h * w for h, w in checked], dtype=np.int64)


def _encode_counts_string(runs: Iterable[int]) -> str:
    """pycocotools' ``rleToString`` in Python (used for tiny, trusted run lists)."""
    runs = list(runs)
    out = []
    for i, run in enumerate(runs):
        x = int(run)
        if i > 2:
            x -= int(runs[i - 2])
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)
