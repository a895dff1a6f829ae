"""A FineDiving fixture built from the real FineDiving metadata (``finediving-meta``).

``tests/data/finediving-meta/{train,val,test}.json`` (jhong93/spot's JSON
conversion of the FineDiving labels; their train+val = the official train split) gives, for all
3000 clips: competition, idx, frame count, size, action type, difficulty, score and the step
transitions. From it we write the official annotation pickles (all three variants) and splits,
and frame folders for any subset of clips.

What the metadata lacks is made up, deterministically:
- frame numbers: clip ``idx`` of a competition starts at broadcast frame ``100 + 200 * idx``;
- judge scores: seven copies of ``score / (3 * difficulty)``;
- ``frames_labels``: the events sorted by frame; frames before the first event get the first
  event's "from" sub-action, each event switches to its "to" sub-action. Transitions are
  recomputed from these labels (an event at frame 0 is therefore not a transition).

Example:
    >>> records = finediving_meta_records()            # every clip, no files written
    >>> root = build_finediving_fixture(tmp_path, video_ids=["01__10"])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import os
import pickle
from pathlib import Path

import numpy as np

from hmtools.datasets.finediving import (SUB_ACTION_IDS, ClipAnnotation, annotations_to_pickles,
                                         is_synchronized, transitions_from_labels)

META_DIR = Path(os.environ.get(
    "FINEDIVING_META",
    Path(__file__).resolve().parents[1] / "data" / "finediving-meta"))
META_SKIP_REASON = f"FineDiving metadata not found at {META_DIR} (set FINEDIVING_META)"


def meta_available() -> bool:
    """Whether the FineDiving metadata JSON files are present."""
    return all((META_DIR / f"{name}.json").is_file() for name in ("train", "val", "test"))


def _labels(num_frames: int, events: list[dict]) -> list[int]:
    events = sorted(events, key=lambda e: e["frame"])
    labels = [SUB_ACTION_IDS[events[0]["comment"].split(" -> ")[0]]] * num_frames
    for event in events:
        to_id = SUB_ACTION_IDS[event["comment"].split(" -> ")[1]]
        labels[event["frame"]:] = [to_id] * (num_frames - event["frame"])
    return labels


@functools.lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    records = []
    for name, split in (("train", "train"), ("val", "train"), ("test", "test")):
        for entry in json.loads((META_DIR / f"{name}.json").read_text()):
            competition, idx = entry["video"].rsplit("__", 1)
            idx = int(idx)
            labels = _labels(entry["num_frames"], entry["events"])
            info = entry["_source_info"]
            records.append({
                "video_id": entry["video"], "competition": competition, "idx": idx,
                "num_frames": entry["num_frames"], "height": entry["height"],
                "width": entry["width"], "action_type": info["action_type"].upper(),
                "difficulty": float(info["difficulty"]), "score": float(info["dive_score"]),
                "split": split, "synchronized": is_synchronized(competition),
                "transitions": transitions_from_labels(labels), "frames_labels": tuple(labels),
                "start_frame": 100 + 200 * idx,
            })
    records.sort(key=lambda r: (r["split"], r["competition"], r["idx"]))
    return tuple(records)


def finediving_meta_records() -> list[dict]:
    """Every clip of the FineDiving metadata as a dict (3000; 2251 train, 749 test).

    Keys: ``video_id, competition, idx, num_frames, height, width, action_type`` (upper case),
    ``difficulty, score, split`` (official: ``"train"``/``"test"``), ``synchronized,
    transitions`` (0-based, clip-relative), ``frames_labels, start_frame`` (made up, see module).
    """
    return [dict(r) for r in _records()]


def frame_names(record: dict) -> list[str]:
    """The fixture's frame file names of a clip (``"00300.jpg"`` ...)."""
    return [f"{record['start_frame'] + i:05d}.jpg" for i in range(record["num_frames"])]


def write_annotations(annotations_dir: Path, records: list[dict]) -> None:
    """Write the three annotation variants and both split pickles for ``records``."""
    annotations_dir.mkdir(parents=True, exist_ok=True)
    clips = (ClipAnnotation(r["competition"], r["idx"], r["action_type"], r["score"],
                            r["difficulty"], (round(r["score"] / (3 * r["difficulty"]), 2),) * 7,
                            r["start_frame"], r["frames_labels"], r["split"]) for r in records)
    for name, data in annotations_to_pickles(clips).items():
        with (annotations_dir / name).open("wb") as handle:
            pickle.dump(data, handle, protocol=4)


def write_frames(frames_dir: Path, record: dict, *, images: bool = False) -> Path:
    """Write one clip's frame folder: empty files, or 2x2 JPEGs when ``images``."""
    folder = frames_dir / record["competition"] / str(record["idx"])
    folder.mkdir(parents=True, exist_ok=True)
    payload = b""
    if images:
        import cv2

        payload = cv2.imencode(".jpg", np.full((2, 2, 3), 128, np.uint8))[1].tobytes()
    for name in frame_names(record):
        with open(os.path.join(folder, name), "wb") as handle:
            handle.write(payload)
    return folder


def build_finediving_fixture(root: Path, *, video_ids: list[str] | None = None,
                             all_frames: bool = False, images: bool = False,
                             records: list[dict] | None = None) -> Path:
    """Write a FineDiving-layout fixture under ``root``.

    Args:
        root: output folder (becomes the dataset root).
        video_ids: clips that get frame folders (default: none, unless ``all_frames``).
        all_frames: frame folders for every clip (312,256 empty files: slow, seconds).
        images: real 2x2 JPEGs instead of empty files.
        records: the clips to annotate (default: all 3000 of the metadata).

    Returns:
        ``root``.
    """
    records = finediving_meta_records() if records is None else records
    write_annotations(root / "Annotations", records)
    wanted = None if all_frames else set(video_ids or ())
    for record in records:
        if wanted is None or record["video_id"] in wanted:
            write_frames(root / "FINADiving_MTL_256s", record, images=images)
    return root
