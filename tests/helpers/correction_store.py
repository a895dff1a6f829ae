"""Tiny stores with frame folders for the correction-workflow tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hmtools.rle import mask_to_rle
from hmtools.store import Flag, MaskStore, PseudoMask, Quality, VideoDoc


def box_mask(size_hw, y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros(size_hw, bool)
    m[y0:y1, x0:x1] = True
    return m


def write_frames(folder: Path, names, size_hw, seed: int = 0) -> Path:
    """Write small JPEG frames (random texture) into ``folder``."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        img = rng.integers(0, 255, (*size_hw, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / name), img)
    return folder


def make_store(tmp_path: Path, videos: dict | None = None, size_hw=(12, 16), n_frames: int = 4,
               objects: int = 1, action_type: str = "107B") -> MaskStore:
    """A store with ``videos`` (id -> list of per-frame {obj: (mask, Quality, Flag)}) and frame folders.

    Without ``videos``: two videos ``v1``, ``v2`` with a moving box per frame, frame 1 flagged.
    """
    store = MaskStore.create(tmp_path / "store")
    if videos is None:
        videos = {}
        for v, act in (("v1", action_type), ("v2", "407C")):
            frames = []
            for i in range(n_frames):
                m = box_mask(size_hw, 2, 8, 2 + i, 7 + i)
                flag = Flag(True, ("low_score",)) if i == 1 else Flag()
                frames.append({1: (m, Quality(score=0.5 if i == 1 else 0.95, iou_prev=0.9), flag)})
            videos[v] = (act, frames)
    for vid, (act, frames) in videos.items():
        names = [f"{k + 1:05d}.jpg" for k in range(len(frames))]
        folder = write_frames(tmp_path / "frames" / vid, names, size_hw, seed=hash(vid) % 1000)
        doc = VideoDoc.new(vid, size_hw, names, objects=objects, action_type=act, source=str(folder))
        for i, entry in enumerate(frames):
            for obj_id, (mask, q, flag) in (entry or {}).items():
                doc.set_pseudo(i, obj_id, PseudoMask(mask_to_rle(mask), q, flag))
        store.write(doc)
    return store
