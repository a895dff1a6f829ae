"""Data pipeline of the trainer: frame sampling, masks from the store, joint transforms, pairs.

Per clip (paper Sec. 3.2, 4.3; paper-notes rows 1-3):

* **Frames.** ``F = stride * (N - 1) + T`` frames are taken from the clip (103 at the paper
  setting; fewer for the demo/tiny presets): FineDiving ``spread`` (F indices spread evenly over
  the trimmed clip, ``round(linspace(0, n - 1, F))``, repeating frames of short clips); MTL-AQA
  ``last`` (the F frames ending at the clip's last frame, CoRe's convention); AQA-7 ``first``
  (the first F). Clips shorter than F repeat their last (first) frame.
* **Snippets** are cut later, on the batch (:func:`fineparser.model.preprocess.frames_to_snippets`):
  snippet i is window frames ``[stride * i, stride * i + T)``.
* **Transitions.** The first and the last step transition of the clip (the TSA/FineParser
  convention: three stages) are mapped into the window: the first window frame whose clip index is
  ``>= t``. Datasets without transitions (MTL-AQA, AQA-7) mark them invalid, and such clips carry
  no temporal-attention loss (our choice; the paper does not say what it did there).
* **Masks.** ``gtm``: the store's ``corrected`` layer, ``pm``: its ``pseudo`` layer (the union of
  the athletes of that layer); paired with frames by frame *name*. A frame without a mask in that
  layer has ``mask_valid = False`` and carries no mask loss (an empty correction is a valid,
  empty mask). Every video must be in the store; with ``gtm`` every video needs at least one
  corrected frame (:class:`~hmtools.errors.StoreError` names the videos otherwise).
* **Sharing with workers.** All per-clip data sits in a :class:`ClipTable` of NumPy arrays (frame
  paths as one bytes array, every RLE's counts in one byte buffer with offsets), so forked
  DataLoader workers share those pages instead of copying millions of Python objects; only the
  sampled frames' masks are decoded.
* **Transforms** (:class:`CropParams`), drawn once per clip and applied identically to every frame
  and mask: resize to ``resize_scale * frame_size`` (bilinear for frames, nearest for masks),
  crop to the model's frame size (random while training, central otherwise), horizontal flip
  (training only). Randomness comes from ``(seed, epoch, index)`` only, so a run is reproducible
  whatever the number of workers, and a resumed run sees the same data as an uninterrupted one.

Example:
    >>> table = build_clip_table(dataset.samples(), num_frames=103, sampling="spread",
    ...                          masks="gtm", store=store)                  # doctest: +SKIP
    >>> pairs = PairDataset(table, table.indices("train"), exemplars, frame_size_hw=(224, 224),
    ...                     train=True, seed=0)                              # doctest: +SKIP
    >>> item = pairs[0]; item.query.frames.shape                             # (103, 3, 224, 224)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch

from hmtools.errors import DatasetError, StoreError

SAMPLINGS = ("spread", "first", "last")
DATASET_SAMPLING = {"finediving": "spread", "synthetic": "spread", "mtlaqa": "last", "aqa7": "first"}
MASK_LAYERS = {"gtm": "corrected", "pm": "pseudo"}


# -- frame indices and transitions ---------------------------------------------------------------

def sample_frame_indices(n_frames: int, num_frames: int, sampling: str) -> np.ndarray:
    """Clip-relative indices of the ``num_frames`` frames taken from a clip of ``n_frames``.

    Example:
        >>> sample_frame_indices(5, 3, "spread").tolist(), sample_frame_indices(2, 3, "first").tolist()
        ([0, 2, 4], [0, 1, 1])
    """
    if n_frames < 1 or num_frames < 1:
        raise ValueError(f"sample_frame_indices: need n_frames, num_frames >= 1, got {n_frames}, {num_frames}")
    if sampling == "spread":
        return np.round(np.linspace(0, n_frames - 1, num_frames)).astype(np.int64)
    if sampling == "first":
        return np.minimum(np.arange(num_frames), n_frames - 1).astype(np.int64)
    if sampling == "last":
        return np.maximum(np.arange(n_frames - num_frames, n_frames), 0).astype(np.int64)
    raise ValueError(f"sampling: expected one of {SAMPLINGS}, got {sampling!r}")


def window_transitions(transitions: Sequence[int], frame_idx: np.ndarray) -> tuple[np.ndarray, bool]:
    """The first and last step transition as window frame indices, and whether they exist.

    Args:
        transitions: clip-relative frame indices where a new step starts (``Sample.transitions``).
        frame_idx: (F,) clip-relative indices of the window's frames, non-decreasing.

    Returns:
        ``(array([t1, t2]), valid)``; ``t`` maps to the first window frame whose clip index is
        ``>= t``. Invalid (zeros) when the clip has fewer than two transitions.

    Example:
        >>> window_transitions((10, 20, 30), np.arange(0, 40, 2))[0].tolist()
        [5, 15]
    """
    if len(transitions) < 2:
        return np.zeros(2, np.int64), False
    ts = np.array([transitions[0], transitions[-1]])
    pos = np.searchsorted(frame_idx, ts, side="left")
    return np.clip(pos, 0, len(frame_idx) - 1).astype(np.int64), True


def masks_to_snippets(masks: torch.Tensor, valid: torch.Tensor, mcfg) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut (B, F, H, W) window masks and (B, F) validity into snippets like the frames
    (:func:`fineparser.model.preprocess.frames_to_snippets`): (B, N, T, H, W) float, (B, N, T) bool."""
    from fineparser.model.preprocess import snippet_frame_indices

    if masks.shape[1] != mcfg.num_frames:
        raise ValueError(f"masks_to_snippets: expected {mcfg.num_frames} frames, got {tuple(masks.shape)}")
    idx = snippet_frame_indices(mcfg).to(masks.device)
    return masks[:, idx].float(), valid[:, idx]


# -- compact per-clip table ---------------------------------------------------------------------

@dataclass
class MaskPack:
    """Many compressed COCO RLE counts in one byte buffer (no per-mask Python object).

    Attributes:
        buffer: (total_bytes,) uint8, the ASCII counts one after another.
        offsets: (K + 1,) int64; mask k is ``buffer[offsets[k]:offsets[k + 1]]``.
        sizes_hw: (K, 2) int32 mask sizes.
    """

    buffer: np.ndarray
    offsets: np.ndarray
    sizes_hw: np.ndarray

    @classmethod
    def from_counts(cls, counts: Sequence[str], sizes_hw: Sequence[tuple[int, int]]) -> MaskPack:
        raw = [c.encode("ascii") for c in counts]
        offsets = np.zeros(len(raw) + 1, np.int64)
        np.cumsum([len(r) for r in raw], out=offsets[1:])
        buffer = np.frombuffer(b"".join(raw), dtype=np.uint8).copy()
        return cls(buffer, offsets, np.asarray(sizes_hw, np.int32).reshape(-1, 2))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def decode(self, k: int) -> np.ndarray:
        """Mask k as (H, W) uint8 0/1. Counts were validated when the store document was read."""
        from pycocotools import mask as cocomask

        h, w = (int(v) for v in self.sizes_hw[k])
        counts = self.buffer[self.offsets[k]:self.offsets[k + 1]].tobytes()
        return cocomask.decode({"size": [h, w], "counts": counts})


@dataclass
class ClipTable:
    """Everything the data pipeline needs about N clips, as NumPy arrays (fork-friendly).

    Attributes:
        video_ids, action_types, splits: per clip (short lists of strings).
        scores: (N,) float64 official scores.
        difficulties: (N,) float64, NaN where unknown.
        frame_paths: (N, F) bytes, the window's frame files (``os.fsencode``).
        frame_idx: (N, F) int64 clip-relative frame indices of the window.
        transitions: (N, 2) int64 first/last transition as window frame indices.
        transitions_valid: (N,) bool.
        mask_ref: (N, F) int64 index into ``masks`` or -1 (no mask for that frame); None without
            mask supervision.
        masks: the RLE counts, or None.
    """

    video_ids: list[str]
    action_types: list[str]
    splits: list[str]
    scores: np.ndarray
    difficulties: np.ndarray
    frame_paths: np.ndarray
    frame_idx: np.ndarray
    transitions: np.ndarray
    transitions_valid: np.ndarray
    mask_ref: np.ndarray | None = None
    masks: MaskPack | None = None

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def num_frames(self) -> int:
        return self.frame_paths.shape[1]

    def indices(self, split: str) -> list[int]:
        """Row indices of one split, in table order."""
        return [i for i, s in enumerate(self.splits) if s == split]

    def mask_coverage(self) -> float:
        """Fraction of window frames that carry a mask (0 without masks)."""
        return 0.0 if self.mask_ref is None else float((self.mask_ref >= 0).mean())


def build_clip_table(samples: Sequence, num_frames: int, sampling: str, masks: str = "none",
                     store=None, mask_splits: Sequence[str] | None = ("train",)) -> ClipTable:
    """Sample every clip's window and gather its masks from the store.

    Args:
        samples: :class:`hmtools.datasets.Sample` records.
        num_frames: F, frames per clip window.
        sampling: ``spread``, ``first`` or ``last`` (module docstring).
        masks: ``gtm``, ``pm`` or ``none``.
        store: an open :class:`hmtools.store.MaskStore` (needed unless ``masks == "none"``).
        mask_splits: splits whose masks are read (training only needs the training split's);
            ``None`` reads every clip's.

    Raises:
        StoreError: videos missing from the store, or (``gtm``) without any corrected frame —
            the message names them.
        DatasetError: no samples.
    """
    if not samples:
        raise DatasetError("no samples to train or evaluate on (empty split?)")
    if masks not in ("gtm", "pm", "none"):
        raise ValueError(f"masks: expected gtm, pm or none, got {masks!r}")
    n = len(samples)
    frame_idx = np.zeros((n, num_frames), np.int64)
    paths: list[list[bytes]] = []
    transitions = np.zeros((n, 2), np.int64)
    transitions_valid = np.zeros(n, bool)
    for i, s in enumerate(samples):
        idx = sample_frame_indices(len(s.frame_paths), num_frames, sampling)
        frame_idx[i] = idx
        paths.append([os.fsencode(s.frame_paths[j]) for j in idx])
        transitions[i], transitions_valid[i] = window_transitions(s.transitions, idx)
    table = ClipTable(
        video_ids=[s.video_id for s in samples], action_types=[s.action_type for s in samples],
        splits=[s.split for s in samples], scores=np.array([float(s.score) for s in samples]),
        difficulties=np.array([np.nan if s.difficulty is None else float(s.difficulty) for s in samples]),
        frame_paths=np.array(paths, dtype=bytes), frame_idx=frame_idx, transitions=transitions,
        transitions_valid=transitions_valid)
    if masks != "none":
        if store is None:
            raise StoreError(f"masks={masks!r} needs a mask store (--store)")
        rows = [i for i, s in enumerate(samples) if mask_splits is None or s.split in mask_splits]
        table.mask_ref, table.masks = _gather_masks(samples, rows, frame_idx, MASK_LAYERS[masks], store)
    return table


def hold_out_validation(table: ClipTable, share: float, seed: int = 0) -> list[int]:
    """Relabel a ``share`` of each action type's training clips as split ``"val"`` (in place).

    The held-out clips are neither trained on nor used as exemplars; the trainer evaluates them
    every ``eval_every`` epochs and picks ``best.pt`` on them, so the test split is never used
    to choose anything. Deterministic in ``seed``; an action type keeps at least two training
    clips (one query, one exemplar).

    Returns:
        The relabelled rows, sorted.

    Example:
        >>> hold_out_validation(table, 0.2)      # doctest: +SKIP
        [3, 9, 14, ...]
    """
    if not 0 <= share < 1:
        raise ValueError(f"val_share: expected a number in [0, 1), got {share!r}")
    rng = np.random.default_rng([seed, 7919])
    held: list[int] = []
    train = table.indices("train")
    for action in sorted({table.action_types[r] for r in train}):
        rows = [r for r in train if table.action_types[r] == action]
        k = min(int(round(share * len(rows))), max(len(rows) - 2, 0))
        held += [int(r) for r in rng.permutation(rows)[:k]]
    for r in held:
        table.splits[r] = "val"
    return sorted(held)


def _gather_masks(samples, rows: Sequence[int], frame_idx: np.ndarray, layer: str,
                  store) -> tuple[np.ndarray, MaskPack]:
    """Read each video's document once; keep only the window frames' counts of ``layer``."""
    from tqdm import tqdm

    missing = [samples[i].video_id for i in rows if samples[i].video_id not in store]
    if missing:
        raise StoreError(f"{store.root}: {len(missing)} video(s) not in the mask store: "
                         f"{_name_list(missing)}")
    mask_ref = np.full(frame_idx.shape, -1, np.int64)
    counts: list[str] = []
    sizes: list[tuple[int, int]] = []
    unannotated: list[str] = []
    for i in tqdm(rows, desc=f"masks ({layer})", unit="video", leave=False):
        s = samples[i]
        doc = store.read(s.video_id)
        if not any(doc.corrected if layer == "corrected" else doc.pseudo):
            unannotated.append(s.video_id)
            continue
        names = s.frame_names
        for j, clip_i in enumerate(frame_idx[i]):
            try:
                frame = doc.frame_index(names[clip_i])
            except StoreError:
                continue  # frame unknown to the store: no mask, no loss
            rle = doc.layer_mask(layer, frame)
            if rle is not None:
                mask_ref[i, j] = len(counts)
                counts.append(rle.counts)
                sizes.append(rle.size_hw)
    if unannotated:
        what = "corrections (masks=gtm reads the corrected layer)" if layer == "corrected" \
            else "pseudo masks (masks=pm reads the pseudo layer)"
        raise StoreError(f"{store.root}: {len(unannotated)} video(s) have no {what}: "
                         f"{_name_list(unannotated)}")
    return mask_ref, MaskPack.from_counts(counts, sizes)


def _name_list(names: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


# -- joint frame + mask transforms ---------------------------------------------------------------

@dataclass(frozen=True)
class CropParams:
    """One clip's geometric transform: resize to ``resize_hw``, crop ``out_hw`` at ``crop_yx``, flip."""

    resize_hw: tuple[int, int]
    crop_yx: tuple[int, int]
    out_hw: tuple[int, int]
    flip: bool

    @classmethod
    def draw(cls, out_hw: tuple[int, int], resize_scale: float, train: bool, flip: bool,
             rng: np.random.Generator) -> CropParams:
        """Random crop position and flip while training; central crop, no flip otherwise."""
        oh, ow = out_hw
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


def read_frame_rgb(path: bytes | str) -> np.ndarray:
    """Decode one image file as (H, W, 3) uint8 RGB; DatasetError naming it when unreadable."""
    import cv2

    image = cv2.imread(os.fsdecode(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{os.fsdecode(path)}: cannot read this frame image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# -- datasets of clips and pairs -----------------------------------------------------------------

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
    frames = np.stack([params.resize(read_frame_rgb(p)) for p in table.frame_paths[row]])
    if table.mask_ref is None:
        return frames, None
    refs = table.mask_ref[row]
    masks = np.zeros((table.num_frames, *params.resize_hw), np.uint8)
    for j in np.flatnonzero(refs >= 0):
        masks[j] = params.resize(table.masks.decode(int(refs[j])), nearest=True)
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
            difficulty for DD; see :func:`fineparser.engine.exemplar_chooser`).
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
        self.train, self.seed, self.epoch = train, seed, 0
        self.resize_scale, self.flip = resize_scale, flip

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> PairItem:
        rng = item_rng(self.seed, self.epoch, i)
        q = self.rows[i]
        z = self.choose_exemplar(q, rng)
        clips = []
        for row in (q, z):
            params = CropParams.draw(self.frame_size_hw, self.resize_scale, self.train, self.flip, rng)
            clips.append(load_clip(self.table, row, params, self.cache))
        return PairItem(*clips)


def worker_init(worker_id: int) -> None:
    """DataLoader workers decode with one thread each (the cores are shared with training)."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


# -- exemplars ------------------------------------------------------------------------------------

class ExemplarChooser:
    """Exemplars for queries, drawn from a pool of (training) rows by :func:`select_exemplars`.

    Args:
        table: the clips.
        pool_rows: rows exemplars may come from (the training split).
        setting: ``AN`` (same action type) or ``DD`` (same difficulty).

    Calling it with ``(query_row, rng)`` gives one exemplar row (training); :meth:`plan` gives up
    to M per query (evaluation).
    """

    def __init__(self, table: ClipTable, pool_rows: Sequence[int], setting: str = "AN"):
        from fineparser.exemplars import ExemplarRecord

        self.table, self.pool, self.setting = table, list(pool_rows), setting
        self.records = [ExemplarRecord(table.action_types[r], float(table.difficulties[r]),
                                       float(table.scores[r])) for r in self.pool]
        self._pos = {r: i for i, r in enumerate(self.pool)}

    def _select(self, row: int, m: int, seed: int, setting: str | None = None) -> list[int]:
        from fineparser.exemplars import select_exemplars

        query = self.records[self._pos[row]] if row in self._pos else self._record(row)
        picked = select_exemplars(self.records, query, m, setting or self.setting, seed=seed,
                                  exclude=self._pos.get(row))
        return [self.pool[i] for i in picked]

    def _record(self, row: int):
        from fineparser.exemplars import ExemplarRecord

        t = self.table
        return ExemplarRecord(t.action_types[row], float(t.difficulties[row]), float(t.scores[row]))

    def has_exemplar(self, row: int) -> bool:
        return bool(self._select(row, 1, 0))

    def __call__(self, row: int, rng: np.random.Generator) -> int:
        picked = self._select(row, 1, int(rng.integers(2 ** 31)))
        if not picked:
            raise DatasetError(f"{self.table.video_ids[row]}: no exemplar candidate in the training "
                               f"split ({self.setting})")
        return picked[0]

    def plan_for(self, action_type: str, difficulty: float | None, m: int, seed: int = 0) -> list[int]:
        """Up to ``m`` pool rows for a clip outside the table (``fineparser predict``)."""
        from fineparser.exemplars import ExemplarRecord, select_exemplars

        query = ExemplarRecord(action_type, np.nan if difficulty is None else float(difficulty), 0.0)
        return [self.pool[i] for i in select_exemplars(self.records, query, m, self.setting, seed=seed)]

    def plan(self, rows: Sequence[int], m: int, seed: int = 0) -> tuple[dict[int, list[int]], list[int]]:
        """Up to ``m`` exemplars per query row, deterministic in ``seed``.

        A query without a candidate of its own action type (AN) or difficulty (DD) falls back to
        the ``m`` pool clips of the closest difficulty (any clips where difficulty is unknown).

        Returns:
            ``(plan, fallback_rows)``: row -> exemplar rows, and the rows that needed the fallback.
        """
        plan, fallback = {}, []
        for row in rows:
            picked = self._select(row, m, seed * 1_000_003 + row)
            if not picked:
                fallback.append(row)
                d = self.table.difficulties[row]
                dist = np.abs(self.table.difficulties[self.pool] - d) if not np.isnan(d) else None
                order = (np.argsort(np.nan_to_num(dist, nan=np.inf), kind="stable")
                         if dist is not None else np.random.default_rng(seed + row).permutation(len(self.pool)))
                picked = [self.pool[i] for i in order if self.pool[i] != row][:m]
            plan[row] = picked
        return plan, fallback
