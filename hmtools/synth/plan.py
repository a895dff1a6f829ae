"""What each synthetic clip shows and how it is scored, decided before anything is drawn.

The score depends only on what is visible on the athlete(s):

- ``tightness`` in [0, 1]: how closed the pike/tuck is in flight (1 = tight; a loose pike also
  bends the knees),
- ``entry_deviation_deg`` in [-30, 30]: body angle from vertical when the hands reach the water,
- ``splash`` in [0, 1]: size of the splash at entry (drawn radius grows linearly with it).

``execution = 10 * (0.45 * tightness + 0.30 * (1 - |deviation| / 30) + 0.25 * (1 - splash))``
(for synchronized pairs, of the two athletes' mean features). Seven judges each give
``execution + N(0, 0.3)`` rounded to 0.5 in [0, 10]; as in real diving the score is the sum of
the middle three times the difficulty, i.e. ``score ~ 3 * difficulty * execution`` plus small
judge noise. Background (crowd, scoreboard, camera pan) comes from a separate random stream and
never sees these numbers.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from dataclasses import dataclass

import numpy as np

from hmtools.datasets.finediving import SUB_ACTION_IDS, finediving_video_id

MAX_DEVIATION_DEG = 30.0
JUDGE_SIGMA = 0.3


@dataclass(frozen=True)
class Action:
    """A dive the generator can draw (FINA number, real FineDiving difficulty and sub-actions)."""

    action_type: str
    difficulty: float
    take_off: str          # FineDiving sub-action name of the take-off step
    flight: tuple[str, ...]  # sub-actions of the flight, in order ("1.5 Twists", "2.5 Soms.Pike")
    somersaults: float
    twists: float
    position: str          # "pike" or "tuck"
    facing_water: bool     # forward/reverse take-offs face the water, back/inward the platform
    forward_rotation: bool  # forward/inward rotate towards the front


ACTIONS: tuple[Action, ...] = (
    Action("107B", 3.0, "Forward", ("3.5 Soms.Pike",), 3.5, 0, "pike", True, True),
    Action("207C", 3.3, "Back", ("3.5 Soms.Tuck",), 3.5, 0, "tuck", False, False),
    Action("305B", 3.0, "Reverse", ("2.5 Soms.Pike",), 2.5, 0, "pike", True, False),
    Action("407C", 3.2, "Inward", ("3.5 Soms.Tuck",), 3.5, 0, "tuck", False, True),
    Action("5253B", 3.2, "Back", ("1.5 Twists", "2.5 Soms.Pike"), 2.5, 1.5, "pike", False, False),
)


@dataclass(frozen=True)
class AthleteFeatures:
    """The visible, scored properties of one athlete's dive."""

    tightness: float
    entry_deviation_deg: float
    splash: float


@dataclass(frozen=True)
class ClipPlan:
    """Everything about one clip except its background.

    Attributes:
        competition, idx: the FineDiving key.
        action: the dive.
        athletes: one (individual) or two (synchronized) feature sets, front athlete first.
        phase_frames: frames of take-off, twist (0 when none), somersault, entry.
        first_frame_number: absolute number of the first frame (file ``f"{n:05d}.jpg"``).
        judge_scores, score: seven judges and the dive score.
        split: ``"train"`` or ``"test"``.
        seed: the clip's athlete random seed (pose jitter, splash droplets).
    """

    competition: str
    idx: int
    action: Action
    athletes: tuple[AthleteFeatures, ...]
    phase_frames: tuple[int, int, int, int]
    first_frame_number: int
    judge_scores: tuple[float, ...]
    score: float
    split: str
    seed: int

    @property
    def video_id(self) -> str:
        return finediving_video_id(self.competition, self.idx)

    @property
    def num_frames(self) -> int:
        return sum(self.phase_frames)

    @property
    def synchronized(self) -> bool:
        return len(self.athletes) == 2

    @property
    def execution(self) -> float:
        return execution_score(self.athletes)

    def frames_labels(self) -> list[int]:
        """FineDiving sub-action id per frame."""
        take_off, twist, soms, entry = self.phase_frames
        flight_ids = [SUB_ACTION_IDS[name] for name in self.action.flight]
        labels = [SUB_ACTION_IDS[self.action.take_off]] * take_off
        if twist:
            labels += [flight_ids[0]] * twist
        labels += [flight_ids[-1]] * soms + [SUB_ACTION_IDS["Entry"]] * entry
        return labels

    def transitions(self) -> tuple[int, ...]:
        """Clip-relative first frames of the twist (if any), somersault and entry steps."""
        take_off, twist, soms, _ = self.phase_frames
        steps = [take_off] + ([take_off + twist] if twist else []) + [take_off + twist + soms]
        return tuple(steps)

    def frame_names(self) -> list[str]:
        return [f"{self.first_frame_number + i:05d}.jpg" for i in range(self.num_frames)]


def execution_score(athletes: tuple[AthleteFeatures, ...] | AthleteFeatures) -> float:
    """Execution in [0, 10] from what is visible on the athlete(s) (see the module docstring).

    Example:
        >>> execution_score(AthleteFeatures(1.0, 0.0, 0.0))
        10.0
    """
    if isinstance(athletes, AthleteFeatures):
        athletes = (athletes,)
    tight = sum(a.tightness for a in athletes) / len(athletes)
    dev = sum(abs(a.entry_deviation_deg) for a in athletes) / len(athletes)
    splash = sum(a.splash for a in athletes) / len(athletes)
    quality = 0.45 * tight + 0.30 * (1 - min(dev, MAX_DEVIATION_DEG) / MAX_DEVIATION_DEG) \
        + 0.25 * (1 - splash)
    return round(10.0 * min(max(quality, 0.0), 1.0), 6)


def judge(execution: float, difficulty: float, rng: np.random.Generator
          ) -> tuple[tuple[float, ...], float]:
    """Seven judge scores around ``execution`` and the dive score (middle three x difficulty)."""
    raw = execution + rng.normal(0.0, JUDGE_SIGMA, size=7)
    judges = tuple(float(v) for v in np.clip(np.round(raw * 2) / 2, 0.0, 10.0))
    middle = sorted(judges)[2:5]
    return judges, round(sum(middle) * difficulty, 2)


def clip_seed(seed: int, stream: str, index: int) -> int:
    """A stable per-clip seed for one random stream ("athlete", "background", ...)."""
    return zlib.crc32(f"{seed}:{stream}:{index}".encode()) & 0x7FFFFFFF


def competition_names(n_competitions: int, n_synchronized: int) -> list[str]:
    """FineDiving-like competition names; those containing "Synchronised" are synchronized."""
    names = []
    events = ("Men10m", "Women10m", "Men3m", "Women3m")
    for i in range(n_competitions):
        if i < n_synchronized:
            names.append(f"SynthCup2024_{events[i % 4]}Synchronised_final_r{i // 4 + 1}")
        else:
            j = i - n_synchronized
            names.append(f"SynthCup2024_{events[j % 4]}_final_r{j // 4 + 1}")
    return names


def plan_dataset(n_videos: int, seed: int, *, frames_range: tuple[int, int] = (40, 70),
                 clips_per_competition: int = 12, synchronized_share: float = 0.25,
                 test_share: float = 0.25) -> list[ClipPlan]:
    """Plan every clip: competition, dive, features, phases, judges, split.

    Clip ``i`` goes to competition ``i % n_competitions`` (at least 4 competitions, at most
    ``clips_per_competition`` clips each; a ``synchronized_share`` of them synchronized); in every
    competition every ``1 / test_share``-th clip (staggered across competitions) is a test clip,
    unless its action type has no training clip.

    Action types are balanced (dealt in a seeded order to the training clips, then to the test
    clips), so exemplars of a test clip's action type exist in the training split.
    """
    if n_videos < 1:
        raise ValueError(f"n_videos must be >= 1, got {n_videos}")
    lo, hi = frames_range
    if not 24 <= lo <= hi <= 99999:
        raise ValueError(f"frames_range must satisfy 24 <= min <= max, got {frames_range}")
    # at least four competitions (so small sets have a synchronized one), then 12 clips each
    n_comp = max(min(n_videos, 4), math.ceil(n_videos / clips_per_competition))
    n_sync = round(n_comp * synchronized_share) if n_comp > 1 else 0
    names = competition_names(n_comp, n_sync)

    period = round(1 / test_share) if test_share > 0 else 0
    is_test = [bool(period) and (i // n_comp + i % n_comp) % period == period - 1
               for i in range(n_videos)]
    # balanced action types, dealt to the training clips first so test types are trained
    types = np.random.default_rng(clip_seed(seed, "actions", 0)).permutation(len(ACTIONS))
    slots = [i for i in range(n_videos) if not is_test[i]] + [i for i in range(n_videos)
                                                               if is_test[i]]
    actions = [ACTIONS[0]] * n_videos
    for k, i in enumerate(slots):
        actions[i] = ACTIONS[int(types[k % len(ACTIONS)])]
    plans = []
    frame_counter = {name: 100 + 97 * k for k, name in enumerate(names)}
    for i in range(n_videos):
        competition = names[i % n_comp]
        idx = i // n_comp
        rng = np.random.default_rng(clip_seed(seed, "athlete", i))
        action = actions[i]
        synchronized = "Synchronised" in competition
        features = [AthleteFeatures(float(rng.uniform(0, 1)),
                                    float(rng.uniform(-MAX_DEVIATION_DEG, MAX_DEVIATION_DEG)),
                                    float(rng.uniform(0, 1)))]
        if synchronized:
            f = features[0]
            features.append(AthleteFeatures(
                float(np.clip(f.tightness + rng.normal(0, 0.08), 0, 1)),
                float(np.clip(f.entry_deviation_deg + rng.normal(0, 4), -MAX_DEVIATION_DEG,
                              MAX_DEVIATION_DEG)),
                float(np.clip(f.splash + rng.normal(0, 0.08), 0, 1))))
        n = int(rng.integers(lo, hi + 1))
        take_off = int(round(n * rng.uniform(0.22, 0.30)))
        entry = max(7, int(round(n * rng.uniform(0.15, 0.2))))
        flight = n - take_off - entry
        twist = int(round(flight * 0.4)) if action.twists else 0
        execution = execution_score(tuple(features))
        judges, score = judge(execution, action.difficulty, rng)
        start = frame_counter[competition]
        frame_counter[competition] = start + n + int(rng.integers(40, 300))
        plans.append(ClipPlan(
            competition=competition, idx=idx, action=action, athletes=tuple(features),
            phase_frames=(take_off, twist, flight - twist, entry), first_frame_number=start,
            judge_scores=judges, score=score, split="test" if is_test[i] else "train",
            seed=clip_seed(seed, "pose", i),
        ))
    trained = {p.action.action_type for p in plans if p.split == "train"}
    plans = [p if p.split == "train" or p.action.action_type in trained
             else dataclasses.replace(p, split="train") for p in plans]
    if any(p.first_frame_number + p.num_frames > 99999 for p in plans):
        raise ValueError("too many frames per competition for 5-digit frame numbers")
    return plans
