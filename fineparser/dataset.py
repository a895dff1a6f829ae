"""Datasets of clip windows and training pairs over a :class:`~fineparser.sampling.ClipTable`.

* :class:`ClipDataset`: the clips of some rows, centrally cropped (evaluation, exemplars).
* :class:`PairDataset`: training pairs, a query and one exemplar drawn for it, with random crops
  and flips (:mod:`fineparser.transforms`). Randomness comes from ``(seed, epoch, index)`` only
  (:func:`item_rng`), so a run is reproducible whatever the number of workers, and a resumed run
  sees the same data as an uninterrupted one.
* Items are typed (:class:`ClipItem`, :class:`PairItem`); ``default_collate`` stacks them into a
  batch of the same type. Only the window's frames and masks are decoded; :class:`ClipCache`
  keeps resized clips in memory when asked.

Example:
    >>> pairs = PairDataset(table, table.indices("train"), chooser, frame_size_hw=(224, 224),
    ...                     train=True, seed=0)                              # doctest: +SKIP
    >>> item = pairs[0]; item.query.frames.shape                             # (103, 3, 224, 224)
"""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence

import numpy as np
import torch

from fineparser.sampling import ClipTable
from fineparser.transforms import CropParams, read_frame_rgb


class ClipItem(NamedTuple):
    """One transformed clip window (default_collate stacks these into a batch of the same type).

    Attributes:
        frames: (F, 3, H, W) uint8 RGB.
        masks: (F, H, W) uint8 0/1; (F, 1, 1) zeros when the table has no masks.
        mask_valid: (F,) bool, frames that carry a mask.
        transitions: (2,) int64 window frame indices of the first/last step transition.
        transitions_valid: () bool.
        score: () float32.
        difficulty: () float32, 1.0 where unknown.
        index: () int64 row of the :class:`ClipTable`.
    """

    frames: torch.Tensor
    masks: torch.Tensor
    mask_valid: torch.Tensor
    transitions: torch.Tensor
    transitions_valid: torch.Tensor
    score: torch.Tensor
    difficulty: torch.Tensor
    index: torch.Tensor


class PairItem(NamedTuple):
    """A training pair: the query clip and one exemplar clip."""

    query: ClipItem
    exemplar: ClipItem


class ClipCache:
    """Decoded, resized clip windows kept in memory (``TrainConfig.cache_clips``).

    Resizing is the deterministic half of every clip's transform (:class:`CropParams`), so a
    cached clip gives exactly the items an uncached one gives; only the crop and the flip are
    drawn per item. A clip costs about ``F * rh * rw * 4`` bytes (frames and masks). Under a
    DataLoader each worker process fills its own copy.
    """

    def __init__(self) -> None:
        self._clips: dict[tuple[int, tuple[int, int]], tuple[np.ndarray, np.ndarray | None]] = {}

    def __len__(self) -> int:
        return len(self._clips)

    def get(self, table: ClipTable, row: int, params: CropParams):
        key = (row, params.resize_hw)
        if key not in self._clips:
            self._clips[key] = _resized_clip(table, row, params)
        return self._clips[key]


def _resized_clip(table: ClipTable, row: int, params: CropParams
                  ) -> tuple[np.ndarray, np.ndarray | None]:
    """(F, rh, rw, 3) frames and (F, rh, rw) masks (None without masks) of one window."""
    paths = table.frame_paths[row]
    first = read_frame_rgb(paths[0])
    frames = np.stack([params.resize(first)] + [params.resize(read_frame_rgb(p, first.shape[:2]))
                                                for p in paths[1:]])
    if table.mask_ref is None:
        return frames, None
    refs = table.mask_ref[row]
    masks = np.zeros((table.num_frames, *params.resize_hw), np.uint8)
    present = np.flatnonzero(refs >= 0)
    for j, mask in zip(present, table.masks.decode_many(refs[present])):
        masks[j] = params.resize(mask, nearest=True)
    return frames, masks


def load_clip(table: ClipTable, row: int, params: CropParams,
              cache: ClipCache | None = None) -> ClipItem:
    """Read, decode and transform one clip window (masks decoded only for its frames)."""
    resized, resized_masks = (cache.get(table, row, params) if cache is not None
                              else _resized_clip(table, row, params))
    frames = params.crop(resized, stacked=True)
    f = table.num_frames
    if table.mask_ref is None:
        masks = np.zeros((f, 1, 1), np.uint8)
        valid = np.zeros(f, bool)
    else:
        valid = table.mask_ref[row] >= 0
        masks = params.crop(resized_masks, stacked=True)
    d = table.difficulties[row]
    return ClipItem(
        frames=torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous(),
        masks=torch.from_numpy(masks), mask_valid=torch.from_numpy(valid),
        transitions=torch.from_numpy(table.transitions[row].copy()),
        transitions_valid=torch.tensor(bool(table.transitions_valid[row])),
        score=torch.tensor(table.scores[row], dtype=torch.float32),
        difficulty=torch.tensor(1.0 if np.isnan(d) else d, dtype=torch.float32),
        index=torch.tensor(row, dtype=torch.int64))


def item_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The random generator of one item: a pure function of (seed, epoch, index, stream)."""
    return np.random.default_rng([seed, epoch, index, stream])


class ClipDataset(torch.utils.data.Dataset):
    """Clips of a table without augmentation (evaluation, exemplar encoding)."""

    def __init__(self, table: ClipTable, rows: Sequence[int], frame_size_hw: tuple[int, int],
                 resize_scale: float = 8 / 7, cache: ClipCache | None = None):
        self.table, self.rows, self.cache = table, list(rows), cache
        self.params = CropParams.draw(tuple(frame_size_hw), resize_scale, False, False,
                                      np.random.default_rng(0))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> ClipItem:
        return load_clip(self.table, self.rows[i], self.params, self.cache)


class PairDataset(torch.utils.data.Dataset):
    """Training pairs: item i is query ``rows[i]`` with one exemplar drawn by ``choose_exemplar``.

    Args:
        table: the clips.
        rows: query rows (the training split).
        choose_exemplar: ``(query_row, rng) -> exemplar_row`` (same action type for AN, by
            difficulty for DD; see :class:`fineparser.exemplars.ExemplarChooser`).
        frame_size_hw: the model's input size.
        train: random crops and flips.
        seed: base seed; call :meth:`set_epoch` every epoch.
        cache: keep decoded clips in memory (:class:`ClipCache`).
    """

    def __init__(self, table: ClipTable, rows: Sequence[int], choose_exemplar,
                 frame_size_hw: tuple[int, int], train: bool = True, seed: int = 0,
                 resize_scale: float = 8 / 7, flip: bool = True, cache: ClipCache | None = None):
        self.table, self.rows, self.cache = table, list(rows), cache
        self.choose_exemplar = choose_exemplar
        self.frame_size_hw = tuple(frame_size_hw)
        self.train, self.seed, self.epoch, self.stream = train, seed, 0, 0
        self.resize_scale, self.flip = resize_scale, flip

    def set_epoch(self, epoch: int, stream: int = 0) -> None:
        """Items of ``epoch``; another ``stream`` draws other pairs and crops for the same epoch
        (the attention warm-up uses stream 1, so the epochs' draws do not change)."""
        self.epoch, self.stream = epoch, stream

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> PairItem:
        rng = item_rng(self.seed, self.epoch, i, self.stream)
        q = self.rows[i]
        z = self.choose_exemplar(q, rng)
        clips = []
        for row in (q, z):
            params = CropParams.draw(self.frame_size_hw, self.resize_scale, self.train, self.flip, rng)
            clips.append(load_clip(self.table, row, params, self.cache))
        return PairItem(*clips)


# The process that makes the loaders (this module is imported there before the workers fork).
_LOADER_PID = os.getpid()


def worker_init(worker_id: int) -> None:
    """DataLoader workers decode with one thread each (the cores are shared with training) and
    exit when the command that started them is killed (:func:`hmtools.workers.exit_with_parent`)."""
    import cv2

    from hmtools.workers import exit_with_parent

    exit_with_parent(_LOADER_PID)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
