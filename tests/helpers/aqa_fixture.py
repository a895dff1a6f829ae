"""A tiny FineDiving-layout data set with frames, labels and a mask store, for trainer tests.

Each clip shows one bright square "athlete" on a textured background; its side grows with the
score, so a model can learn something in a few steps. Masks (the square) are written to the
store's pseudo layer and, unless listed in ``uncorrected``, to the corrected layer as well.

Example:
    >>> data_root, store_root = build_tiny_aqa(tmp_path)                  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from helpers.finediving_fixture import frame_names, write_annotations

ACTION_TYPES = ("107B", "407C")


def tiny_records(n_train: int = 6, n_test: int = 4, num_frames: int = 24, seed: int = 0) -> list[dict]:
    """Clip records in the fixture format of :mod:`helpers.finediving_fixture`."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_train + n_test):
        split = "train" if i < n_train else "test"
        action = ACTION_TYPES[i % len(ACTION_TYPES)]
        score = float(np.round(rng.uniform(20, 90), 1))
        t1, t2 = num_frames // 3, 2 * num_frames // 3
        labels = [1] * t1 + [14] * (t2 - t1) + [36] * (num_frames - t2)
        records.append({
            "video_id": f"comp{split}__{i}", "competition": f"comp{split}", "idx": i,
            "num_frames": num_frames, "height": 40, "width": 48, "action_type": action,
            "difficulty": 2.0 + 0.4 * (i % 2), "score": score, "split": split,
            "synchronized": False, "transitions": (t1, t2), "frames_labels": tuple(labels),
            "start_frame": 100 + 200 * i,
        })
    return records


def square_mask(record: dict, frame_idx: int) -> np.ndarray:
    """The athlete's (H, W) bool mask in one frame: a square moving left to right."""
    h, w = record["height"], record["width"]
    side = 4 + int(record["score"] / 10)
    x = int((w - side) * frame_idx / max(record["num_frames"] - 1, 1))
    y = (h - side) // 2
    m = np.zeros((h, w), bool)
    m[y:y + side, x:x + side] = True
    return m


def build_tiny_aqa(root: Path, records: list[dict] | None = None,
                   uncorrected: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Write frames, annotation pickles and a mask store; returns ``(data_root, store_root)``."""
    import cv2

    from hmtools.rle import mask_to_rle
    from hmtools.store import Correction, MaskStore, PseudoMask, VideoDoc, utc_now

    records = tiny_records() if records is None else records
    data_root, store_root = root / "data", root / "store"
    write_annotations(data_root / "Annotations", records)
    store = MaskStore.create(store_root)
    rng = np.random.default_rng(1)
    for r in records:
        folder = data_root / "FINADiving_MTL_256s" / r["competition"] / str(r["idx"])
        folder.mkdir(parents=True, exist_ok=True)
        names = frame_names(r)
        doc = VideoDoc.new(r["video_id"], (r["height"], r["width"]), names, objects=1,
                           dataset="finediving", action_type=r["action_type"], split=r["split"])
        background = rng.integers(0, 80, (r["height"], r["width"], 3), dtype=np.uint8)
        for i, name in enumerate(names):
            mask = square_mask(r, i)
            image = background.copy()
            image[mask] = (230, 200, 40)
            cv2.imwrite(str(folder / name), image)
            rle = mask_to_rle(mask)
            doc.set_pseudo(i, 1, PseudoMask(rle))
            if r["video_id"] not in uncorrected:
                doc.set_correction(i, 1, Correction(rle, "confirmed", "test", utc_now(), "test"))
        store.write(doc)
    return data_root, store_root
