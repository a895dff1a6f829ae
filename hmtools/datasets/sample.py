"""The one record every dataset adapter yields, and the dataset container around it.

Everything downstream (the mask store, pseudo-masks, statistics, the trainer) speaks only
:class:`Sample`; an adapter's job is to turn its dataset's layout into these records.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

VIDEO_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Sample:
    """One clip of an AQA dataset, validated on construction.

    Attributes:
        dataset: adapter name: ``"finediving"``, ``"mtlaqa"``, ``"aqa7"`` (the synthetic data set
            is read by the FineDiving adapter and says ``"finediving"``).
        key: the dataset's own key, e.g. ``("FINADivingWorldCup2021_Men3m_final_r1", 0)``,
            ``(1, 12)`` for MTL-AQA, ``("diving", 7)`` for AQA-7.
        video_id: the mask store's id (``"<competition>__<idx>"``, ``"01_12"``,
            ``"diving-007"``); matches ``[A-Za-z0-9][A-Za-z0-9._-]*``.
        frame_paths: the clip's frames in temporal order (resolved, inside the data root).
        action_type: dive number upper-case (``"407C"``) or, for AQA-7, the class name.
        score: the official score.
        difficulty: degree of difficulty, ``None`` where the dataset has none (AQA-7).
        transitions: 0-based indices, relative to the clip's first frame, of every frame that
            starts a new step (where the step label changes); empty where unknown.
        split: ``"train"`` or ``"test"``.
        synchronized: two athletes (synchronized diving).
        event: FineDiving ``"individual"``/``"synchronized"``; MTL-AQA ``"3m"``/``"10m"`` (or
            ``None`` when unknown); AQA-7 the class name.
        judge_scores: the individual judges' scores where the dataset has them.

    Raises:
        ValueError: a field has the wrong type or an impossible value.
    """

    dataset: str
    key: tuple
    video_id: str
    frame_paths: tuple[Path, ...]
    action_type: str
    score: float
    difficulty: float | None
    transitions: tuple[int, ...]
    split: str
    synchronized: bool
    event: str | None = None
    judge_scores: tuple[float, ...] | None = None

    def __post_init__(self):
        def fail(field: str, expected: str, got) -> None:
            raise ValueError(f"Sample {self.video_id!r}: {field} must be {expected}, got {got!r}")

        if not isinstance(self.dataset, str) or not self.dataset:
            fail("dataset", "a non-empty string", self.dataset)
        if not isinstance(self.key, tuple) or not self.key:
            fail("key", "a non-empty tuple", self.key)
        if not isinstance(self.video_id, str) or not VIDEO_ID_RE.fullmatch(self.video_id):
            fail("video_id", f"a string matching {VIDEO_ID_RE.pattern}", self.video_id)
        if (not isinstance(self.frame_paths, tuple) or not self.frame_paths
                or not all(isinstance(p, Path) for p in self.frame_paths)):
            fail("frame_paths", "a non-empty tuple of pathlib.Path", type(self.frame_paths))
        if not isinstance(self.action_type, str) or not self.action_type:
            fail("action_type", "a non-empty string", self.action_type)
        if isinstance(self.score, bool) or not isinstance(self.score, (int, float)) \
                or not math.isfinite(self.score):
            fail("score", "a finite number", self.score)
        if self.difficulty is not None and (
                isinstance(self.difficulty, bool) or not isinstance(self.difficulty, (int, float))
                or not math.isfinite(self.difficulty) or self.difficulty <= 0):
            fail("difficulty", "None or a positive number", self.difficulty)
        if not isinstance(self.transitions, tuple) or not all(
                isinstance(t, int) and not isinstance(t, bool) for t in self.transitions):
            fail("transitions", "a tuple of int", self.transitions)
        n = len(self.frame_paths)
        if any(not 0 < t < n for t in self.transitions) or list(self.transitions) != sorted(
                set(self.transitions)):
            fail("transitions", f"strictly increasing indices in [1, {n - 1}]", self.transitions)
        if not isinstance(self.split, str) or not self.split:
            fail("split", "a non-empty string", self.split)
        if not isinstance(self.synchronized, bool):
            fail("synchronized", "a bool", self.synchronized)
        if self.event is not None and (not isinstance(self.event, str) or not self.event):
            fail("event", "None or a non-empty string", self.event)
        if self.judge_scores is not None and (
                not isinstance(self.judge_scores, tuple) or not all(
                    isinstance(s, (int, float)) and not isinstance(s, bool) and math.isfinite(s)
                    for s in self.judge_scores)):
            fail("judge_scores", "None or a tuple of finite numbers", self.judge_scores)

    @property
    def frame_names(self) -> tuple[str, ...]:
        """The frames' file names (``"00489.jpg"``), the store's key for pairing masks."""
        return tuple(p.name for p in self.frame_paths)

    @property
    def num_frames(self) -> int:
        return len(self.frame_paths)


@dataclass(frozen=True)
class Defect:
    """A problem with one clip of the real data (missing folder, label/frame count mismatch)."""

    video_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.video_id}: {self.problem}"


class Dataset:
    """The samples of one dataset plus the clips that were skipped and why.

    Args:
        name: adapter name (``"finediving"``, ``"mtlaqa"``, ``"aqa7"``).
        root: the resolved data root.
        samples: the usable clips, in a stable order.
        defects: the skipped clips.
    """

    def __init__(self, name: str, root: Path, samples: list[Sample], defects: list[Defect]):
        self.name = name
        self.root = root
        self._samples = list(samples)
        self.defects = list(defects)
        self._by_id = {s.video_id: s for s in self._samples}

    def samples(self, split: str | None = None) -> list[Sample]:
        """The usable samples, optionally only those of one split (``"train"``/``"test"``)."""
        if split is None:
            return list(self._samples)
        return [s for s in self._samples if s.split == split]

    def sample(self, video_id: str) -> Sample:
        """The sample with this store id; ``KeyError`` when absent (or skipped as a defect)."""
        return self._by_id[video_id]

    def __len__(self) -> int:
        return len(self._samples)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, root={str(self.root)!r}, samples={len(self._samples)}, "
                f"defects={len(self.defects)})")
