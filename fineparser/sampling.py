"""Which frames a clip contributes, and the compact table of every clip's window and masks.

Per clip (paper Sec. 3.2, 4.3; paper-notes rows 1-3):

* **Frames.** ``F = stride * (N - 1) + T`` frames are taken from the clip (103 at the paper
  setting; fewer for the demo/tiny presets): FineDiving ``spread`` (F indices spread evenly over
  the trimmed clip, ``round(linspace(0, n - 1, F))``, repeating frames of short clips); MTL-AQA
  ``last`` (the F frames ending at the clip's last frame, CoRe's convention); AQA-7 ``first``
  (the first F). Clips shorter than F repeat their last (first) frame.
* **Snippets** are cut later, on the batch (:func:`fineparser.inputs.to_snippets`): snippet i is
  window frames ``[stride * i, stride * i + T)``.
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
  sampled frames' masks are decoded (:mod:`fineparser.dataset`).

Example:
    >>> table = build_clip_table(dataset.samples(), num_frames=103, sampling="spread",
    ...                          masks="gtm", store=store)                  # doctest: +SKIP
    >>> table.indices("train")[:3], table.frame_idx.shape                   # doctest: +SKIP
    ([0, 1, 2], (3000, 103))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from hmtools.datasets import DATASET_READERS
from hmtools.errors import DatasetError, StoreError

SAMPLINGS = ("spread", "first", "last")
DATASET_SAMPLING = {kind: reader.frame_sampling for kind, reader in DATASET_READERS.items()}
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
        """Mask k as (H, W) uint8 0/1 (Fortran-ordered). Counts were validated when the store
        document was read."""
        from pycocotools import mask as cocomask

        h, w = (int(v) for v in self.sizes_hw[k])
        counts = self.buffer[self.offsets[k]:self.offsets[k + 1]].tobytes()
        return cocomask.decode({"size": [h, w], "counts": counts})

    def decode_many(self, ks: Sequence[int]) -> Iterator[np.ndarray]:
        """Masks ``ks`` one by one as :meth:`decode` gives them: their counts parsed (and checked
        again) in one batch, each decoded with one ``np.repeat`` (:func:`hmtools.rle.decode_counts`,
        about 8x faster than pycocotools' decoder on person masks)."""
        from hmtools.rle import decode_counts

        buf, off = self.buffer, self.offsets
        counts = [buf[off[k]:off[k + 1]].tobytes().decode("ascii") for k in ks]
        return (m.view(np.uint8) for m in decode_counts(counts, self.sizes_hw[np.asarray(ks, np.int64)].tolist()))


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
        if not doc.layer(layer).has_masks():
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
