"""Write a synthetic dataset in the FineDiving layout, with exact masks.

Output under ``OUT``::

    FINADiving_MTL_256s/<comp>/<idx>/<NNNNN>.jpg      frames (absolute 5-digit frame numbers)
    FineDiving_HM/<comp>/<idx>/<NNNNN>.png            exact masks: 255 = any athlete (grayscale)
    FineDiving_HM_instances/<comp>/<idx>/<NNNNN>.png  per-athlete truth: 0 background, 1 front
                                                      athlete, 2 second athlete (synchronized)
    Annotations/FineDiving_coarse_annotation.pkl      official formats (see hmtools.datasets.finediving)
    Annotations/FineDiving_fine-grained_annotation.pkl
    Annotations/fine-grained_annotation_aqa.pkl       [type, score, difficulty, judge scores, labels]
    Annotations/{train,test}_split.pkl
    synth_truth.json                                  per clip: features, execution, judges, score,
                                                      transitions, per-frame athlete boxes (xyxy)
    preview.png                                       a contact sheet with mask overlay

Same arguments -> byte-identical files. ``steps_transit_frames`` are written as absolute frame
numbers (our reading of the real data). The fourth entry of the ``_aqa`` list is unused by the
official loaders; we store the judge scores there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import pickle
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from hmtools.atomic import make_dirs, removed_on_error
from hmtools.datasets.finediving import (ANNOTATIONS_DIR, FRAMES_DIR, ClipAnnotation,
                                         annotations_to_pickles)
from hmtools.errors import DatasetError
from hmtools.synth.plan import AthleteFeatures, ClipPlan, clip_seed, plan_dataset
from hmtools.synth.pose import athlete_track
from hmtools.synth.scene import SPLASH_BGR, Background, athlete_lut, draw_figure, draw_splash

MASKS_DIR = "FineDiving_HM"
INSTANCES_DIR = "FineDiving_HM_instances"
TRUTH_JSON = "synth_truth.json"
PREVIEW_PNG = "preview.png"
OUTPUTS = (FRAMES_DIR, MASKS_DIR, INSTANCES_DIR, ANNOTATIONS_DIR, TRUTH_JSON, PREVIEW_PNG)
ATHLETE_HEIGHT = 0.55  # standing height as a fraction of the frame height (broadcast zoom)
JPEG_QUALITY = 90


@dataclass
class RenderedFrame:
    """One frame: the image ``(H, W, 3)`` uint8 BGR and athlete ids ``(H, W)`` uint8 (0 = none)."""

    image: np.ndarray
    instances: np.ndarray


def render_clip(plan: ClipPlan, size_hw: tuple[int, int], background_seed: int, *,
                athletes: bool = True) -> Iterator[RenderedFrame]:
    """Render a planned clip frame by frame (one dense frame at a time).

    Args:
        plan: the clip (athletes, dive, phases).
        size_hw: frame size.
        background_seed: seed of the background stream (crowd, scoreboard, camera, noise).
        athletes: ``False`` renders the identical frames without athletes and splash (a
            background-only baseline; tests use it to check the masks pixel by pixel).
    """
    H, W = size_hw
    n_athletes = len(plan.athletes)
    bg = Background(size_hw, plan.num_frames, np.random.default_rng(background_seed),
                    ATHLETE_HEIGHT * H, plan.synchronized, follow=lambda st: nominal_path(plan, st))
    pose_rng = np.random.default_rng(plan.seed)
    lut = athlete_lut(pose_rng, n_athletes)
    tracks = []
    for a, features in enumerate(plan.athletes):
        frames, entry_xy, entry_start = athlete_track(plan, a, bg.stages[a])
        n_drops = 3 + int(10 * features.splash)
        drops = np.column_stack([pose_rng.uniform(-1.3, 1.3, n_drops),
                                 pose_rng.uniform(0.3, 1.4, n_drops),
                                 pose_rng.uniform(0.5, 1.0, n_drops)])
        radius = bg.stages[a].height_px * (0.12 + 0.5 * features.splash)
        tracks.append((frames, entry_xy, entry_start, drops, radius))
    n_entry = plan.phase_frames[3]

    for t in range(plan.num_frames):
        img, ox, oy = bg.frame(t)
        parts = np.zeros((H, W), np.uint8)
        for a in reversed(range(n_athletes if athletes else 0)):
            draw_figure(parts, tracks[a][0][t], (ox, oy), 1 + 4 * a)
        for a in range(n_athletes):
            wy = int(math.ceil(bg.stages[a].water_y - oy))
            if wy < H:
                below = parts[max(wy, 0):]
                below[(below >= 1 + 4 * a) & (below <= 4 + 4 * a)] = 0
        splash = np.zeros((H, W), np.uint8)
        for a, (_, entry_xy, entry_start, drops, radius) in enumerate(tracks):
            e = t - entry_start
            if e >= 0 and athletes:
                grow = min(1.0, (e + 1) / max(2.0, 0.35 * n_entry))
                decay = 1.0 - 0.35 * max(0.0, e / n_entry - 0.5)
                draw_splash(splash, (entry_xy[0] - ox, entry_xy[1] - oy), radius * grow * decay,
                            drops)
        foam = splash > 0
        parts[foam] = 0
        body = parts > 0
        img[body] = lut[parts[body]]
        img[foam] = SPLASH_BGR
        instances = np.zeros((H, W), np.uint8)
        instances[body] = (parts[body] + 3) // 4
        yield RenderedFrame(bg.finish(img, t), instances)


def nominal_path(plan: ClipPlan, stages: list) -> np.ndarray:
    """(T, 2) world centre the camera follows: the athletes' mean centroid for *neutral*
    features (mid tightness and splash, a vertical entry), so camera motion depends on the
    stage and the dive's timing but never on what is scored."""
    neutral = AthleteFeatures(0.5, 0.0, 0.5)
    plan = dataclasses.replace(plan, athletes=(neutral,) * len(plan.athletes))
    tracks = [athlete_track(plan, a, stages[a])[0] for a in range(len(plan.athletes))]
    return np.array([[np.mean([tr[t].center_xy[k] for tr in tracks]) for k in (0, 1)]
                     for t in range(plan.num_frames)])


def _boxes(instances: np.ndarray, n_athletes: int) -> list[list[int] | None]:
    """Per athlete, the ``[x0, y0, x1, y1]`` box (inclusive pixels) or ``None`` when not visible."""
    out = []
    for a in range(1, n_athletes + 1):
        ys, xs = np.nonzero(instances == a)
        out.append([int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())] if len(xs) else None)
    return out


def _annotations(plans: list[ClipPlan]) -> dict[str, object]:
    return annotations_to_pickles(
        ClipAnnotation(p.competition, p.idx, p.action.action_type, p.score, p.action.difficulty,
                       p.judge_scores, p.first_frame_number, tuple(p.frames_labels()), p.split)
        for p in plans)


def _truth_entry(p: ClipPlan, boxes: list) -> dict:
    return {
        "video_id": p.video_id, "competition": p.competition, "idx": p.idx,
        "action_type": p.action.action_type, "difficulty": p.action.difficulty,
        "synchronized": p.synchronized, "split": p.split, "num_frames": p.num_frames,
        "first_frame": p.frame_names()[0], "transitions": list(p.transitions()),
        "athletes": [{"tightness": round(f.tightness, 6),
                      "entry_deviation_deg": round(f.entry_deviation_deg, 6),
                      "splash": round(f.splash, 6)} for f in p.athletes],
        "execution": p.execution, "judge_scores": list(p.judge_scores), "score": p.score,
        "boxes_xyxy": boxes,
    }


def _preview(samples: list[tuple[ClipPlan, list[RenderedFrame]]]) -> np.ndarray:
    rows = []
    for plan, frames in samples:
        take, twist, soms, _ = plan.phase_frames
        picks = [0, take // 2, take + 2, take + (twist + soms) // 2, take + twist + soms,
                 min(take + twist + soms + 3, plan.num_frames - 1)]
        tiles = []
        for k in picks:
            img = frames[k].image.astype(np.float32)
            mask = frames[k].instances > 0
            img[mask] = 0.45 * img[mask] + 0.55 * np.array([0, 0, 255], np.float32)
            tile = np.repeat(np.repeat(img.astype(np.uint8), 2, axis=0), 2, axis=1)
            tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0)), constant_values=255))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


@dataclass
class SynthSummary:
    """What :func:`generate` wrote."""

    out: Path
    clips: int
    train: int
    test: int
    synchronized: int
    frames: int
    size_hw: tuple[int, int]
    seconds: float
    paths: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        H, W = self.size_hw
        return [f"wrote {self.clips} clips ({self.train} train, {self.test} test, "
                f"{self.synchronized} synchronized), {self.frames} frames of {W}x{H} "
                f"in {self.seconds:.1f} s"] + [f"  {p}" for p in self.paths]


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite and not (out / TRUTH_JSON).is_file():
            raise DatasetError(f"{out}: folder is not empty and holds no earlier synth output "
                               "(use --force to replace it)")
        for name in OUTPUTS:  # only our own outputs are removed
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()

_ENCODE_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def _clip_folders(out: Path, plan: ClipPlan) -> list[Path]:
    """Frames, masks and instances folders of one clip."""
    rel = Path(plan.competition) / str(plan.idx)
    return [out / FRAMES_DIR / rel, out / MASKS_DIR / rel, out / INSTANCES_DIR / rel]


def _clip_files(folders: list[Path], plan: ClipPlan) -> list[Path]:
    """Every file :func:`_write_clip` writes for ``plan`` into ``folders``."""
    stems = [name[:-4] for name in plan.frame_names()]
    return [folders[0] / f"{stem}.jpg" for stem in stems] + [
        folder / f"{stem}.png" for folder in folders[1:] for stem in stems]


def _write_clip(job: tuple[ClipPlan, int, list[Path], bool], size_hw: tuple[int, int], bg_base: int
                ) -> tuple[list, list[RenderedFrame]]:
    """Render clip ``i`` and write its frames and masks; returns its per-frame athlete boxes and
    its frames when it goes into the preview. Runs in a worker process with ``--workers``: the
    clip's pixels depend only on its plan and seeds, so the files are the same bytes either way."""
    plan, i, folders, keep = job
    boxes, kept = [], []
    for name, frame in zip(plan.frame_names(), render_clip(
            plan, size_hw, clip_seed(bg_base, "background", i))):
        stem = name[:-4]
        jpg = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
        (folders[0] / name).write_bytes(jpg.tobytes())
        mask = ((frame.instances > 0) * 255).astype(np.uint8)
        (folders[1] / f"{stem}.png").write_bytes(cv2.imencode(".png", mask, _ENCODE_PNG)[1].tobytes())
        (folders[2] / f"{stem}.png").write_bytes(cv2.imencode(".png", frame.instances, _ENCODE_PNG)[1].tobytes())
        boxes.append(_boxes(frame.instances, len(plan.athletes)))
        if keep:
            kept.append(frame)
    return boxes, kept


def generate(out: str | Path, *, n_videos: int = 96, seed: int = 0,
             size_hw: tuple[int, int] = (96, 160), frames_range: tuple[int, int] = (40, 70),
             background_seed: int | None = None, overwrite: bool = False, preview: bool = True,
             progress: bool = True, workers: int = 1) -> SynthSummary:
    """Generate the synthetic FineDiving-layout dataset (see the module docstring for files).

    Args:
        out: output folder; an earlier synth output there is replaced, any other non-empty
            folder needs ``overwrite=True`` (only the files listed above are removed).
        n_videos: clips (12 per competition; a quarter of the competitions synchronized).
        seed: everything about the athletes and, unless ``background_seed`` is given, the
            backgrounds too.
        size_hw: frame size (height, width), at least 48 x 80.
        frames_range: min and max frames per clip.
        background_seed: a separate seed for backgrounds; scores, features and transitions do
            not depend on it.
        overwrite: replace a non-empty folder's synth outputs.
        preview: write ``preview.png``.
        progress: show a progress bar on stderr.
        workers: processes that render clips (1: in this one); the files are the same bytes.

    Returns:
        A :class:`SynthSummary`.

    Example:
        >>> summary = generate("demo_out/synth", n_videos=12, seed=0)  # doctest: +SKIP
        >>> print("\\n".join(summary.lines()))  # doctest: +SKIP
    """
    from tqdm import tqdm

    started = time.perf_counter()
    H, W = size_hw
    if H < 48 or W < 80:
        raise ValueError(f"size_hw must be at least (48, 80), got {size_hw}")
    out = Path(out)
    plans = plan_dataset(n_videos, seed, frames_range=frames_range)
    _prepare(out, overwrite)
    bg_base = seed if background_seed is None else background_seed
    truth, preview_samples = [], []
    preview_ids = {p.video_id for p in plans[:3]} | {
        next((p.video_id for p in plans if p.synchronized), plans[0].video_id)}
    with removed_on_error() as created:  # a failed run (a full disk, Ctrl-C) leaves none of its files or folders
        make_dirs(out, created)

        def put(path: Path, data) -> None:
            created.append(path)
            path.write_bytes(data)

        jobs = []
        for i, plan in enumerate(plans):
            folders = _clip_folders(out, plan)
            for folder in folders:
                make_dirs(folder, created)
            created.extend(_clip_files(folders, plan))  # removed on error, written or not
            jobs.append((plan, i, folders, plan.video_id in preview_ids))
        draw = functools.partial(_write_clip, size_hw=size_hw, bg_base=bg_base)
        with contextlib.ExitStack() as stack:
            if workers > 1 and len(jobs) > 1:
                from hmtools.workers import process_pool

                results = stack.enter_context(process_pool(min(workers, len(jobs)))).map(
                    draw, jobs, chunksize=4)
            else:
                results = map(draw, jobs)
            for (plan, *_), (boxes, kept) in zip(jobs, tqdm(results, total=len(jobs), desc="synth",
                                                              unit="clip", disable=not progress)):
                if kept:
                    preview_samples.append((plan, kept))
                truth.append(_truth_entry(plan, boxes))

        paths = [out / FRAMES_DIR, out / MASKS_DIR, out / INSTANCES_DIR]
        make_dirs(out / ANNOTATIONS_DIR, created)
        for name, data in _annotations(plans).items():
            put(out / ANNOTATIONS_DIR / name, pickle.dumps(data, protocol=4))
            paths.append(out / ANNOTATIONS_DIR / name)
        document = {"generator": "hmtools synth", "version": 1, "seed": seed,
                    "background_seed": bg_base, "size_hw": [H, W], "clips": truth}
        put(out / TRUTH_JSON, (json.dumps(document, indent=1, sort_keys=True) + "\n").encode())
        paths.append(out / TRUTH_JSON)
        if preview:
            put(out / PREVIEW_PNG, cv2.imencode(".png", _preview(preview_samples))[1])
            paths.append(out / PREVIEW_PNG)
    return SynthSummary(out=out, clips=len(plans), train=sum(p.split == "train" for p in plans),
                        test=sum(p.split == "test" for p in plans),
                        synchronized=sum(p.synchronized for p in plans),
                        frames=sum(p.num_frames for p in plans), size_hw=(H, W),
                        seconds=time.perf_counter() - started, paths=paths)
