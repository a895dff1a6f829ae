"""Measure pseudo masks against the exact masks of the synthetic dataset (``hmtools synth``).

Prompts for the synthetic clips are derived from the truth: object ``k`` starts on the first frame
where athlete ``k`` is visible, with the tight box of its true mask (``FineDiving_HM_instances``,
value ``k``). That isolates tracking + segmentation quality from detection.

IoU is computed per frame on the frame's effective mask (the union of its athletes, the paper's
counting) against the true union mask (``FineDiving_HM``); a frame where both are empty (the
athletes under water) counts 1.0, a frame with a mask where there is nobody counts 0.0.

Example:
    >>> ds = open_dataset("synthetic", "demo_out/synth")                    # doctest: +SKIP
    >>> prompts = synth_prompts("demo_out/synth", ds.samples())             # doctest: +SKIP
    >>> per_video = synth_iou(store, "demo_out/synth", ds.samples())        # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from hmtools.errors import DatasetError
from hmtools.pseudo.base import mask_box_xyxy
from hmtools.pseudo.prompts import Prompt, Prompts

MASKS_DIR = "FineDiving_HM"
INSTANCES_DIR = "FineDiving_HM_instances"


def _truth_path(root: Path, sample, frame_name: str, folder: str) -> Path:
    comp, idx = sample.key[0], sample.key[1]
    return root / folder / str(comp) / str(idx) / (Path(frame_name).stem + ".png")


def _read_png(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DatasetError(f"{path}: missing or unreadable truth mask")
    return img


def synth_prompts(root: str | Path, samples: Iterable) -> Prompts:
    """Start boxes from the true instance masks: one prompt per athlete, on its first visible frame."""
    root = Path(root)
    out = []
    for s in samples:
        n = 2 if s.synchronized else 1
        missing = set(range(1, n + 1))
        for i, name in enumerate(s.frame_names):
            if not missing:
                break
            inst = _read_png(_truth_path(root, s, name, INSTANCES_DIR))
            for k in sorted(missing):
                box = mask_box_xyxy(inst == k)
                if box is not None and box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                    out.append(Prompt(s.video_id, i, k, box, where=f"truth {s.video_id}:{name}"))
                    missing.discard(k)
    return Prompts(out)


def frame_ious(doc, root: str | Path, sample) -> np.ndarray:
    """``(T,)`` IoU of the document's effective pseudo mask per frame against the truth."""
    from hmtools.rle import rle_to_mask

    root = Path(root)
    out = np.zeros(doc.n_frames)
    for i, name in enumerate(doc.frames):
        truth = _read_png(_truth_path(root, sample, name, MASKS_DIR)) > 127
        rle = doc.layer_mask("pseudo", i)
        pred = np.zeros_like(truth) if rle is None else rle_to_mask(rle).astype(bool)
        union = np.count_nonzero(pred | truth)
        out[i] = 1.0 if union == 0 else np.count_nonzero(pred & truth) / union
    return out


def synth_iou(store, root: str | Path, samples: Iterable) -> dict[str, float]:
    """Mean per-frame IoU of each stored video against the synthetic truth."""
    return {s.video_id: float(frame_ious(store.read(s.video_id), root, s).mean()) for s in samples
            if s.video_id in store}
