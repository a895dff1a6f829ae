"""MTL-AQA adapter (Parmar & Morris, CVPR 2019), in the layout of the CoRe code base.

Layout (``reference/datasets.md``)::

    <root>/info/final_annotations_dict_with_dive_number.pkl  {(video, clip): {start_frame, end_frame,
                                                              difficulty, final_score, judge_scores,
                                                              dive_number, armstand, ...}}
    <root>/info/{train,test}_split_0.pkl                      [(video, clip), ...]
    <root>/new_total_frames_256s/<video:02d>/<frame:08d>.jpg  whole broadcasts   ("broadcast" layout)
    <root>/frames/<video:02d>_<clip:02d>/*.jpg                one folder per clip ("clips" layout)

Choices:

- Broadcast layout: a clip is the ``clip_len`` (103) frames that end at ``end_frame``, picked as in
  CoRe: positions ``end_frame - clip_len`` .. ``end_frame - 1`` of the video folder's sorted frame
  list. Clips layout: every frame of the clip folder. The layout is detected from which folder
  exists (``layout="auto"``) or forced.
- Event (3 m springboard / 10 m platform) is a property of the source video. The annotations
  carry no height, so it comes from ``annotations/tables/mtlaqa_events.csv``: videos 17, 18 and
  22 are 3 m, the other 12 are 10 m. Evidence: the FineDiving clips taken from these videos
  (competitions ``01`` .. ``26`` of the FineDiving metadata) have exactly 29,446 frames for
  {17, 18, 22} and 112,945 for the rest, the MTL-AQA-HM mask counts published for 3 m and
  10 m; (dive number, difficulty) pairs matched against named 3 m / 10 m FineDiving competitions
  agree for every video but 26 (mixed). A video missing from the table is 10 m when one of its
  clips is an armstand dive (armstands exist only on platform), otherwise its event is ``None``.
- MTL-AQA has no synchronized flag; samples say ``synchronized=False`` (FineDiving-HM counts
  these clips as individual too). No step transitions: ``transitions=()``.
"""

from __future__ import annotations

import math
from pathlib import Path

from hmtools.datasets.base import DefectLog, clip_frames, inside_root, list_frames, resolve_root
from hmtools.datasets.sample import Dataset, Sample
from hmtools.datasets.tables import mtlaqa_video_events
from hmtools.datasets.unpickle import safe_load_pickle
from hmtools.errors import DatasetError

ANNOTATIONS_PKL = "info/final_annotations_dict_with_dive_number.pkl"
TRAIN_SPLIT_PKL = "info/train_split_0.pkl"
TEST_SPLIT_PKL = "info/test_split_0.pkl"
BROADCAST_DIR = "new_total_frames_256s"
CLIPS_DIR = "frames"
CLIP_LEN = 103
LAYOUTS = ("auto", "broadcast", "clips")


def mtlaqa_video_id(video: int, clip: int) -> str:
    """The store id of an MTL-AQA clip: ``"<video:02d>_<clip:02d>"``."""
    return f"{video:02d}_{clip:02d}"


def _key(entry, source: Path) -> tuple[int, int]:
    try:
        video, clip = entry
        return int(video), int(clip)
    except (TypeError, ValueError):
        raise DatasetError(f"{source}: expected (video, clip) keys, got {entry!r}") from None


def _is_armstand(entry: dict) -> bool:
    """The ``armstand`` flag, or a dive number of group 6."""
    flag = entry.get("armstand")
    try:
        flagged = flag is not None and not isinstance(flag, str) and bool(int(flag))
    except (TypeError, ValueError):
        flagged = False
    return flagged or str(entry.get("dive_number", "")).startswith("6")


def video_events(annotations: dict[tuple[int, int], dict],
                 table: dict[int, str] | None = None) -> dict[int, str | None]:
    """Event per source video: the table's entry, else ``"10m"`` if any clip is an armstand."""
    table = mtlaqa_video_events() if table is None else table
    events: dict[int, str | None] = {}
    for (video, _clip), entry in annotations.items():
        if video in table:
            events[video] = table[video]
        elif isinstance(entry, dict) and _is_armstand(entry):
            events[video] = "10m"
        else:
            events.setdefault(video, None)
    return events


def read_mtlaqa(root: str | Path, *, on_defect: str = "warn", layout: str = "auto",
                frames_dir: str | None = None, annotations: str = ANNOTATIONS_PKL,
                train_split: str = TRAIN_SPLIT_PKL, test_split: str = TEST_SPLIT_PKL,
                clip_len: int = CLIP_LEN) -> Dataset:
    """Read MTL-AQA.

    Args:
        root: the dataset root.
        on_defect: ``"warn"`` skips a defective clip with a logged warning; ``"fail"`` raises.
        layout: ``"broadcast"``, ``"clips"`` or ``"auto"`` (whichever default folder exists).
        frames_dir: frames folder relative to root (default by layout).
        annotations, train_split, test_split: pickle paths relative to root.
        clip_len: frames per clip in the broadcast layout.

    Returns:
        A :class:`Dataset` named ``"mtlaqa"``; samples ordered by (split, video, clip).

    Raises:
        DatasetError: missing/refused/corrupt pickles, no frames folder, a path leaving the root,
            or (with ``on_defect="fail"``) the first defective clip.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    root = resolve_root(root)
    log = DefectLog(on_defect)
    if layout == "auto":
        if frames_dir is not None:
            layout = "clips" if Path(frames_dir).name == CLIPS_DIR else "broadcast"
        elif (root / BROADCAST_DIR).is_dir():
            layout = "broadcast"
        elif (root / CLIPS_DIR).is_dir():
            layout = "clips"
        else:
            raise DatasetError(f"{root}: no frames folder ({BROADCAST_DIR}/ or {CLIPS_DIR}/)")
    frames_root = inside_root(root, frames_dir or (BROADCAST_DIR if layout == "broadcast"
                                                   else CLIPS_DIR), "frames folder")
    if not frames_root.is_dir():
        raise DatasetError(f"{frames_root}: frames folder not found")

    ann_path = inside_root(root, annotations, "annotation file")
    data = safe_load_pickle(ann_path)
    if not isinstance(data, dict):
        raise DatasetError(f"{ann_path}: expected a dict keyed by (video, clip), "
                           f"got {type(data).__name__}")
    labels = {_key(k, ann_path): v for k, v in data.items()}
    events = video_events(labels)
    broadcast_frames: dict[int, list[Path] | None] = {}

    samples = []
    seen = set()
    for split, rel in (("train", train_split), ("test", test_split)):
        split_path = inside_root(root, rel, "split file")
        keys = safe_load_pickle(split_path)
        if not isinstance(keys, (list, tuple)):
            raise DatasetError(f"{split_path}: expected a list of (video, clip), "
                               f"got {type(keys).__name__}")
        for key in sorted({_key(k, split_path) for k in keys} - seen):
            seen.add(key)
            video, clip = key
            video_id = mtlaqa_video_id(video, clip)
            entry = labels.get(key)
            if not isinstance(entry, dict):
                log.report(video_id, "listed in a split file but not annotated")
                continue
            problem = _entry_problem(entry)
            if problem:
                log.report(video_id, problem)
                continue
            if layout == "clips":
                frames = clip_frames(root, frames_root / video_id, video_id, log)
            else:
                frames = _broadcast_clip(root, frames_root, key, entry, clip_len,
                                         broadcast_frames, log)
            if frames is None:
                continue
            judges = entry.get("judge_scores")
            samples.append(Sample(
                dataset="mtlaqa", key=key, video_id=video_id, frame_paths=tuple(frames),
                action_type=str(entry["dive_number"]).upper(), score=float(entry["final_score"]),
                difficulty=float(entry["difficulty"]), transitions=(), split=split,
                synchronized=False, event=events.get(video),
                judge_scores=None if judges is None else tuple(float(v) for v in judges),
            ))
    return Dataset("mtlaqa", root, samples, log.defects)


def _entry_problem(entry: dict) -> str | None:
    for name in ("dive_number", "final_score", "difficulty", "end_frame"):
        if entry.get(name) is None:
            return f"annotation has no {name}"
    try:
        score, difficulty = float(entry["final_score"]), float(entry["difficulty"])
        int(entry["end_frame"])
        if entry.get("judge_scores") is not None:
            [float(v) for v in entry["judge_scores"]]
    except (TypeError, ValueError):
        return "annotation fields are not numbers"
    if not (math.isfinite(score) and math.isfinite(difficulty) and difficulty > 0):
        return f"annotation score/difficulty out of range ({score}, {difficulty})"
    return None


def _broadcast_clip(root: Path, frames_root: Path, key: tuple[int, int], entry: dict,
                    clip_len: int, cache: dict, log: DefectLog) -> list[Path] | None:
    video, _clip = key
    video_id = mtlaqa_video_id(*key)
    if video not in cache:
        folder = inside_root(root, frames_root / f"{video:02d}", f"frames of video {video:02d}")
        cache[video] = list_frames(folder, root) if folder.is_dir() else None
    frames = cache[video]
    if frames is None:
        log.report(video_id, f"missing frame folder {frames_root / f'{video:02d}'}")
        return None
    end = int(entry["end_frame"])
    start = end - clip_len
    if start < 0 or end > len(frames):
        log.report(video_id, f"clip needs frames {start}..{end - 1} of video {video:02d} but "
                             f"its folder has {len(frames)} frames")
        return None
    return frames[start:end]
