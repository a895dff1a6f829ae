"""FineDiving adapter (Xu et al., CVPR 2022): frame folders, annotation pickles, splits.

Layout (``reference/datasets.md``)::

    <root>/FINADiving_MTL_256s/<competition>/<idx>/<NNNNN>.jpg   (absolute broadcast frame numbers)
    <root>/Annotations/FineDiving_coarse_annotation.pkl           {(comp, idx): {action_type, dive_score,
                                                                    difficulty, judge_scores, start_frame, end_frame}}
    <root>/Annotations/FineDiving_fine-grained_annotation.pkl     {(comp, idx): {action_type, dive_score,
                                                                    difficulty, frames_labels, steps_transit_frames,
                                                                    sub-action_types}}
    <root>/Annotations/fine-grained_annotation_aqa.pkl            {(comp, idx): [action_type, score, difficulty,
                                                                    <unused>, frames_labels]}
    <root>/Annotations/{train,test}_split.pkl                     [(comp, idx), ...]

Choices where the data leaves room:

- Whichever of the three annotation variants exist are read (at least one must); for a clip,
  fields come from the fine-grained file first, then the ``_aqa`` file, then the coarse file.
- Step transitions are the 0-based indices (relative to the clip's first frame) of every frame
  whose ``frames_labels`` value differs from the previous frame's. ``frames_labels`` has one
  label per trimmed frame, so it is relative to the clip by construction. ``steps_transit_frames``
  is used only when no ``frames_labels`` exists: we read its values as absolute broadcast frame
  numbers (the numbers in the frame file names) when all of them are >= the clip's first frame
  number (the coarse ``start_frame`` when known, otherwise the first file name), and as
  clip-relative indices otherwise.
- Frames are listed from the clip folder and sorted by the number in their name; the annotation's
  ``start_frame``/``end_frame`` are not used to pick frames.
- A competition whose name contains "synchro" (any case) is a synchronized (two-athlete) event.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmtools.datasets.base import DefectLog, clip_frames, inside_root, resolve_root
from hmtools.datasets.sample import VIDEO_ID_RE, Dataset, Sample
from hmtools.datasets.unpickle import safe_load_pickle
from hmtools.errors import DatasetError

FRAMES_DIR = "FINADiving_MTL_256s"
ANNOTATIONS_DIR = "Annotations"
COARSE_PKL = "FineDiving_coarse_annotation.pkl"
FINE_PKL = "FineDiving_fine-grained_annotation.pkl"
AQA_PKL = "fine-grained_annotation_aqa.pkl"
TRAIN_SPLIT_PKL = "train_split.pkl"
TEST_SPLIT_PKL = "test_split.pkl"

# The 29 sub-action (step) types of FineDiving and their ids in ``frames_labels``.
SUB_ACTION_IDS: dict[str, int] = {
    "Forward": 1, "Back": 2, "Reverse": 3, "Inward": 4,
    "Arm.Forward": 5, "Arm.Back": 6, "Arm.Reverse": 7,
    "1 Som.Pike": 12, "1.5 Soms.Pike": 13, "2 Soms.Pike": 14, "2.5 Soms.Pike": 15,
    "3 Soms.Pike": 16, "3.5 Soms.Pike": 17, "4.5 Soms.Pike": 19,
    "1.5 Soms.Tuck": 21, "2 Soms.Tuck": 22, "2.5 Soms.Tuck": 23, "3 Soms.Tuck": 24,
    "3.5 Soms.Tuck": 25, "4.5 Soms.Tuck": 27,
    "0.5 Twist": 29, "1 Twist": 30, "1.5 Twists": 31, "2 Twists": 32, "2.5 Twists": 33,
    "3 Twists": 34, "3.5 Twists": 35,
    "Entry": 36, "0.5 Som.Pike": 37,
}
SUB_ACTION_NAMES: dict[int, str] = {v: k for k, v in SUB_ACTION_IDS.items()}

_SYNCHRO = re.compile("synchro", re.IGNORECASE)


def finediving_video_id(competition: str, idx: int) -> str:
    """The store id of a FineDiving clip: ``"<competition>__<idx>"``."""
    return f"{competition}__{idx}"


def is_synchronized(competition: str) -> bool:
    """Whether a FineDiving competition is a synchronized (two-athlete) event."""
    return bool(_SYNCHRO.search(competition))


def transitions_from_labels(frames_labels) -> tuple[int, ...]:
    """0-based indices of the frames whose step label differs from the previous frame's.

    Example:
        >>> transitions_from_labels([2, 2, 15, 15, 15, 36])
        (2, 5)
    """
    labels = [int(v) for v in frames_labels]
    return tuple(i for i in range(1, len(labels)) if labels[i] != labels[i - 1])


def transitions_from_steps(steps, first_frame_number: int, num_frames: int) -> tuple[int, ...]:
    """Clip-relative transitions from ``steps_transit_frames`` (see the module docstring).

    Example:
        >>> transitions_from_steps([512, 552], first_frame_number=489, num_frames=104)
        (23, 63)
    """
    values = [int(v) for v in steps]
    if values and all(v >= first_frame_number for v in values):
        values = [v - first_frame_number for v in values]
    return tuple(sorted({v for v in values if 0 < v < num_frames}))


@dataclass(frozen=True)
class ClipAnnotation:
    """One clip's labels, the input of :func:`annotations_to_pickles`."""

    competition: str
    idx: int
    action_type: str
    score: float
    difficulty: float
    judge_scores: tuple[float, ...]
    start_frame: int
    frames_labels: tuple[int, ...]
    split: str


def annotations_to_pickles(clips: Iterable[ClipAnnotation]) -> dict[str, object]:
    """The contents of the official annotation pickles for ``clips`` (file name -> object).

    Formats as in the FineDiving release: see the module docstring. ``steps_transit_frames``
    holds absolute frame numbers (``start_frame`` + transition); the unused fourth entry of the
    ``_aqa`` list holds the judge scores.
    """
    coarse, fine, aqa, splits = {}, {}, {}, {"train": [], "test": []}
    for c in clips:
        key = (c.competition, c.idx)
        labels = np.asarray(c.frames_labels, dtype=np.int64)
        start = c.start_frame
        coarse[key] = {"action_type": c.action_type, "dive_score": c.score,
                       "difficulty": c.difficulty, "judge_scores": list(c.judge_scores),
                       "start_frame": start, "end_frame": start + len(labels) - 1}
        fine[key] = {"action_type": c.action_type, "dive_score": c.score,
                     "difficulty": c.difficulty, "frames_labels": labels,
                     "steps_transit_frames": np.asarray(
                         [start + t for t in transitions_from_labels(labels)], dtype=np.int64),
                     "sub-action_types": {int(i): SUB_ACTION_NAMES[int(i)]
                                          for i in sorted(set(labels.tolist()))}}
        aqa[key] = [c.action_type, c.score, c.difficulty,
                    np.asarray(c.judge_scores, dtype=np.float64), labels]
        splits[c.split].append(key)
    return {COARSE_PKL: coarse, FINE_PKL: fine, AQA_PKL: aqa,
            TRAIN_SPLIT_PKL: splits["train"], TEST_SPLIT_PKL: splits["test"]}


def _key(entry, source: Path) -> tuple[str, int]:
    try:
        competition, idx = entry
        if isinstance(idx, float) and not idx.is_integer():
            raise ValueError
        return str(competition), int(idx)
    except (TypeError, ValueError):
        raise DatasetError(f"{source}: expected (competition, idx) keys, got {entry!r}") from None


def _load_annotation(path: Path) -> dict[tuple[str, int], object]:
    data = safe_load_pickle(path)
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a dict keyed by (competition, idx), "
                           f"got {type(data).__name__}")
    return {_key(k, path): v for k, v in data.items()}


def _load_split(path: Path) -> list[tuple[str, int]]:
    data = safe_load_pickle(path)
    if not isinstance(data, (list, tuple)):
        raise DatasetError(f"{path}: expected a list of (competition, idx), "
                           f"got {type(data).__name__}")
    return [_key(k, path) for k in data]


class _Fields:
    """The annotation fields of one clip merged from the variants (fine > aqa > coarse)."""

    def __init__(self, coarse, fine, aqa):
        self.action_type = self.score = self.difficulty = None
        self.judge_scores = self.frames_labels = self.steps = self.start_frame = None
        for entry in (coarse, fine):  # later wins
            if isinstance(entry, dict):
                self.action_type = entry.get("action_type", self.action_type)
                self.score = entry.get("dive_score", self.score)
                self.difficulty = entry.get("difficulty", self.difficulty)
        if isinstance(coarse, dict):
            self.judge_scores = coarse.get("judge_scores")
            self.start_frame = coarse.get("start_frame")
        if isinstance(fine, dict):
            self.frames_labels = fine.get("frames_labels")
            self.steps = fine.get("steps_transit_frames")
        if isinstance(aqa, (list, tuple)) and len(aqa) >= 5:
            if not isinstance(fine, dict):
                self.action_type, self.score, self.difficulty = aqa[0], aqa[1], aqa[2]
            if self.frames_labels is None:
                self.frames_labels = aqa[4]

    def problem(self) -> str | None:
        """Why this entry cannot make a sample, or ``None``."""
        for name, value in (("action_type", self.action_type), ("dive_score", self.score),
                            ("difficulty", self.difficulty)):
            if value is None:
                return f"annotation has no {name}"
        try:
            score, difficulty = float(self.score), float(self.difficulty)
        except (TypeError, ValueError):
            return f"annotation score/difficulty are not numbers ({self.score!r}, {self.difficulty!r})"
        if not (math.isfinite(score) and math.isfinite(difficulty) and difficulty > 0):
            return f"annotation score/difficulty out of range ({score}, {difficulty})"
        return None


def read_finediving(root: str | Path, *, on_defect: str = "warn", frames_dir: str = FRAMES_DIR,
                    annotations_dir: str = ANNOTATIONS_DIR) -> Dataset:
    """Read a FineDiving-layout dataset (the real one or ``hmtools synth`` output).

    Args:
        root: the dataset root.
        on_defect: ``"warn"`` skips a defective clip with a logged warning; ``"fail"`` raises.
        frames_dir: frames folder, relative to root.
        annotations_dir: annotation pickles folder, relative to root.

    Returns:
        A :class:`Dataset` named ``"finediving"``; samples ordered by (split, competition, idx).

    Raises:
        DatasetError: no annotation pickle, a missing split file, a refused or corrupt pickle,
            a path leaving the root, or (with ``on_defect="fail"``) the first defective clip.

    Example:
        >>> ds = read_finediving("data/FineDiving")  # doctest: +SKIP
        >>> ds.samples("train")[0].transitions  # doctest: +SKIP
        (23, 63)
    """
    root = resolve_root(root)
    log = DefectLog(on_defect)
    annotations = inside_root(root, annotations_dir, "annotations folder")
    frames_root = inside_root(root, frames_dir, "frames folder")
    if not annotations.is_dir():
        raise DatasetError(f"{annotations}: annotations folder not found")
    if not frames_root.is_dir():
        raise DatasetError(f"{frames_root}: frames folder not found")

    variants = {}
    for name in (COARSE_PKL, FINE_PKL, AQA_PKL):
        path = annotations / name
        if path.is_file():
            variants[name] = _load_annotation(path)
    if not variants:
        raise DatasetError(f"{annotations}: no FineDiving annotation pickle "
                           f"(expected one of {COARSE_PKL}, {FINE_PKL}, {AQA_PKL})")
    splits = {"train": _load_split(annotations / TRAIN_SPLIT_PKL),
              "test": _load_split(annotations / TEST_SPLIT_PKL)}

    annotated = set().union(*variants.values())
    split_of: dict[tuple[str, int], str] = {}
    for split, keys in splits.items():
        for key in keys:
            split_of.setdefault(key, split)
    for key in sorted(annotated - split_of.keys()):
        log.report(finediving_video_id(*key), "annotated but in neither split file")

    samples = []
    for split in ("train", "test"):
        for key in sorted({k for k, s in split_of.items() if s == split}):
            sample = _sample(root, frames_root, key, split, variants, log)
            if sample is not None:
                samples.append(sample)
    return Dataset("finediving", root, samples, log.defects)


def _sample(root: Path, frames_root: Path, key: tuple[str, int], split: str, variants: dict,
            log: DefectLog) -> Sample | None:
    competition, idx = key
    video_id = finediving_video_id(competition, idx)
    folder = inside_root(root, frames_root / competition / str(idx), f"frame folder of {video_id}")
    if not VIDEO_ID_RE.fullmatch(video_id):
        log.report(video_id, "key cannot form a store video id (unexpected characters)")
        return None
    entries = [variants.get(name, {}).get(key) for name in (COARSE_PKL, FINE_PKL, AQA_PKL)]
    if all(e is None for e in entries):
        log.report(video_id, "listed in a split file but not annotated")
        return None
    fields = _Fields(*entries)
    problem = fields.problem()
    if problem:
        log.report(video_id, problem)
        return None

    frames = clip_frames(root, folder, video_id, log)
    if frames is None:
        return None
    if fields.frames_labels is not None:
        try:
            labels = [int(v) for v in fields.frames_labels]
        except (TypeError, ValueError):
            log.report(video_id, "frames_labels is not a sequence of integers")
            return None
        if len(labels) != len(frames):
            log.report(video_id, f"frames_labels has {len(labels)} labels but the folder has "
                                 f"{len(frames)} frames")
            return None
        transitions = transitions_from_labels(labels)
    elif fields.steps is not None:
        first = fields.start_frame
        if first is None:
            digits = re.findall(r"\d+", frames[0].stem)
            first = int(digits[-1]) if digits else 0
        transitions = transitions_from_steps(fields.steps, int(first), len(frames))
    else:
        transitions = ()

    judges = None
    if fields.judge_scores is not None:
        try:
            judges = tuple(float(v) for v in fields.judge_scores)
        except (TypeError, ValueError):
            judges = None
    synchronized = is_synchronized(competition)
    return Sample(
        dataset="finediving", key=key, video_id=video_id, frame_paths=tuple(frames),
        action_type=str(fields.action_type).upper(), score=float(fields.score),
        difficulty=float(fields.difficulty), transitions=transitions, split=split,
        synchronized=synchronized, event="synchronized" if synchronized else "individual",
        judge_scores=judges,
    )
