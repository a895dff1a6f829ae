"""One video through the backends: start boxes -> tracker -> segmenter -> quality, in memory.

:func:`run_video` returns the video's pseudo layer (:class:`VideoMasks`); writing it to the store
is the pipeline's job. The steps of one pass (:class:`_VideoPass`):

1. objects start from the video's prompts on their frame (:class:`_PromptSchedule`) or, without
   prompts, from the detector on the first ``detect_frames`` frames (object 1 = leftmost);
2. a segmenter that ``wants_background`` first sees every frame (a first decoding pass);
3. per frame, the tracker proposes a box per started object (:meth:`_VideoPass.add_frame`);
4. boxes are segmented ``frames_per_call`` frames at a time; each mask gets its quality signals and
   review flag, and its box goes back to the tracker (:meth:`_VideoPass.flush`).

Batching: a tracker whose boxes do not depend on the masks (OSTrack) lets the segmenter take
``segmenter.batch_size`` frames per call (SAM's encoder sees several frames at once); the OpenCV
and mask-propagation trackers take each mask's box back before the next frame, so they go frame by
frame (:func:`frames_per_call`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hmtools.decoder_noise import DecoderNoise
from hmtools.errors import HMError, VideoError
from hmtools.pseudo.base import Segmenter, TrackedBox, Tracker, clip_xyxy, mask_box_xyxy
from hmtools.pseudo.prompts import Prompt, PromptsError
from hmtools.pseudo.quality import frame_quality, review_flag
from hmtools.pseudo.report import Timer
from hmtools.rle import mask_to_rle
from hmtools.store import PseudoMask
from hmtools.video import Frame, prefetch

Box = tuple[float, float, float, float]


@dataclass
class VideoMasks:
    """The pseudo layer of one video, not yet written.

    Attributes:
        frame_names: the decoded frames' names, in order.
        size_hw: the frames' ``(H, W)``.
        layer: per frame, ``None`` (no object active yet) or ``{obj_id: PseudoMask}``.
        n_objects: objects the document declares (prompted ids and ``job.n_objects``).
        timer: where the time went.
        decoder_note: the decoder's complaints about the video file as one line (``"dive.avi: 12
            damaged frames (ac-tex damaged at 6 31)"``), ``None`` when it decoded quietly.
    """

    frame_names: list[str]
    size_hw: tuple[int, int]
    layer: list[dict[int, PseudoMask] | None]
    n_objects: int
    timer: Timer
    decoder_note: str | None = None


def frames_per_call(tracker: Tracker, segmenter: Segmenter) -> int:
    """Frames per segmenter call: > 1 only when neither the tracker nor the segmenter needs the
    previous frame's mask."""
    if tracker.needs_mask_feedback or segmenter.needs_sequential:
        return 1
    return max(1, int(segmenter.batch_size))


def start_box(p: Prompt, size_hw: tuple[int, int]) -> Box:
    """A prompt's box clipped to the frame; a :class:`PromptsError` when little of it is inside."""
    box = clip_xyxy(p.box_xyxy, size_hw)
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        raise PromptsError(f"{p.where}: box {p.box_xyxy} lies outside the {size_hw[1]}x{size_hw[0]} "
                           f"frames of video {p.video}")
    return box


class _PromptSchedule:
    """One video's prompts by frame index or frame name; remembers which ones were reached."""

    def __init__(self, prompts: Sequence[Prompt]):
        self._by_index: dict[int, list[Prompt]] = {}
        self._by_name: dict[str, list[Prompt]] = {}
        for p in prompts:
            if isinstance(p.frame, int):
                self._by_index.setdefault(p.frame, []).append(p)
            else:
                self._by_name.setdefault(p.frame, []).append(p)
        self._prompts = list(prompts)
        self._used: set[int] = set()

    def at(self, frame: Frame) -> list[Prompt]:
        found = self._by_index.get(frame.index, []) + self._by_name.get(frame.name, [])
        self._used.update(id(p) for p in found)
        return found

    def first_unused(self) -> Prompt | None:
        return next((p for p in self._prompts if id(p) not in self._used), None)


class _VideoPass:
    """The state of one video's pass, shared by its steps (see the module docstring)."""

    def __init__(self, job, backends, prompts: Sequence[Prompt]):
        self.job = job
        self.settings = backends.settings
        self.timer = Timer()
        self.tracker: Tracker = backends.new_tracker()
        self.segmenter: Segmenter = backends.segmenter
        self.segmenter.reset()
        self.detector = backends.detector
        self.schedule = _PromptSchedule(prompts)
        self.n_objects = max([job.n_objects] + [p.object_id for p in prompts])
        self.detecting = not prompts
        if self.detecting and self.detector is None:
            raise PromptsError(f"video {job.video_id}: no prompt in the prompts file and no detector "
                               f"(pass --prompts FILE or --detect hog)")
        self.prev_masks: dict[int, np.ndarray | None] = {}  # the started objects
        self.names: list[str] = []
        self.layer: list[dict[int, PseudoMask] | None] = []
        self.size_hw: tuple[int, int] | None = None
        self.pending: list[tuple[int, np.ndarray, dict[int, TrackedBox]]] = []
        self.batch = frames_per_call(self.tracker, self.segmenter)
        self.noise: DecoderNoise | None = None  # of the latest decoding pass

    def frames(self):
        """A decoding pass; its decoder messages are counted afresh (a background pass would
        otherwise count each damaged frame twice)."""
        src = self.job.source
        self.noise = DecoderNoise(src.path.name if src.is_file else self.job.video_id)
        return prefetch(src.frames(self.noise), depth=self.settings.prefetch_frames)

    def learn_background(self) -> None:
        """A first decoding pass: the segmenter learns the video's background. Time spent waiting
        for frames is decoding, not model time."""
        waited = [0.0]

        def images():
            it = self.frames()
            while True:
                t_wait = time.perf_counter()
                frame = next(it, None)
                waited[0] += time.perf_counter() - t_wait
                if frame is None:
                    return
                yield frame.image_rgb

        t0 = time.perf_counter()
        self.segmenter.prepare(images())
        self.timer.segmenter_s += time.perf_counter() - t0 - waited[0]

    def add_frame(self, frame: Frame) -> None:
        """Track the started objects, start new ones, and queue the frame's boxes for segmenting."""
        img = frame.image_rgb
        if self.size_hw is None:
            self.size_hw = img.shape[:2]
        self.names.append(frame.name)
        self.layer.append(None)
        boxes: dict[int, TrackedBox] = {}
        if self.prev_masks:
            t0 = time.perf_counter()
            boxes = self.tracker.step(img)
            self.timer.tracker_s += time.perf_counter() - t0
        starts = [(p.object_id, start_box(p, self.size_hw)) for p in self.schedule.at(frame)]
        starts += self._detected(frame, img)
        if starts:
            self._start(img, starts, boxes)
        if boxes:
            self.pending.append((frame.index, img, boxes))
            if len(self.pending) >= self.batch:
                self.flush()

    def _detected(self, frame: Frame, img: np.ndarray) -> list[tuple[int, Box]]:
        """Detector starts while nobody is followed yet on the first ``detect_frames`` frames: all
        ``n_objects`` people, or on the last frame tried whoever was found."""
        s = self.settings
        if not self.detecting or self.prev_masks or frame.index >= s.detect_frames:
            return []
        t0 = time.perf_counter()
        dets = self.detector.detect(img, max_people=self.n_objects)
        self.timer.detector_s += time.perf_counter() - t0
        last_try = frame.index == s.detect_frames - 1
        if len(dets) >= self.n_objects or (last_try and dets):
            found = sorted((b for b, _ in dets), key=lambda b: b[0])  # object 1 = leftmost
            return [(i + 1, b) for i, b in enumerate(found)]
        return []

    def _start(self, img: np.ndarray, starts: list[tuple[int, Box]], boxes: dict[int, TrackedBox]) -> None:
        t0 = time.perf_counter()
        for obj_id, box in starts:
            self.tracker.start(img, obj_id, box)
            boxes[obj_id] = TrackedBox(box)
            self.prev_masks.setdefault(obj_id, None)  # a restarted object keeps its previous mask
            self.segmenter.forget(obj_id)
        self.timer.tracker_s += time.perf_counter() - t0

    def flush(self) -> None:
        """Segment the queued frames; each mask gets its quality and goes back to the tracker."""
        if not self.pending:
            return
        t0 = time.perf_counter()
        segs = self.segmenter.segment([f for _, f, _ in self.pending],
                                      [{o: b.box_xyxy for o, b in boxes.items()} for _, _, boxes in self.pending],
                                      [i for i, _, _ in self.pending])
        self.timer.segmenter_s += time.perf_counter() - t0
        for (idx, _, boxes), seg in zip(self.pending, segs):
            self.layer[idx] = {obj_id: self._pseudo_mask(obj_id, tb, seg[obj_id]) for obj_id, tb in boxes.items()}
        self.pending.clear()

    def _pseudo_mask(self, obj_id: int, tb: TrackedBox, res) -> PseudoMask:
        pm = segmented_pseudo_mask(res, self.prev_masks[obj_id], tb, self.tracker, obj_id,
                                   self.settings.thresholds)
        self.prev_masks[obj_id] = res.mask
        return pm

    def finish(self, t_start: float) -> VideoMasks:
        """The video's masks, after the checks that need the whole video."""
        job, names = self.job, self.names
        if self.size_hw is None:
            raise VideoError(f"{job.source.path}: no frames")
        p = self.schedule.first_unused()
        if p is not None:
            raise PromptsError(f"{p.where}: video {job.video_id} has no frame {p.frame!r} "
                               f"({len(names)} frames, {names[0]} .. {names[-1]})")
        if self.detecting and not self.prev_masks:
            raise HMError(f"video {job.video_id}: no person detected in the first "
                          f"{self.settings.detect_frames} frames; give start boxes with --prompts FILE")
        self.timer.frames = len(names)
        self.timer.total_s = time.perf_counter() - t_start
        return VideoMasks(names, self.size_hw, self.layer, self.n_objects, self.timer,
                          self.noise.summary() if self.noise else None)


def run_video(job, backends, prompts: Sequence[Prompt], progress=None) -> VideoMasks:
    """Track and segment one video (a :class:`~hmtools.pseudo.inputs.VideoJob`) with ``backends``
    (a :class:`~hmtools.pseudo.backends.Backends`) from its ``prompts``.

    Raises:
        VideoError / PromptsError / HMError: per-video problems (unreadable frames, prompts that do
            not fit, nobody detected).
    """
    t_start = time.perf_counter()
    run = _VideoPass(job, backends, prompts)
    if run.segmenter.wants_background:
        run.learn_background()
    for frame in run.frames():
        run.add_frame(frame)
        if progress is not None:
            progress.update(1)
    run.flush()
    return run.finish(t_start)


def segmented_pseudo_mask(res, prev_mask, tb: TrackedBox, tracker: Tracker, obj_id: int,
                          thresholds) -> PseudoMask:
    """One segmented mask as a :class:`~hmtools.store.PseudoMask`: its quality against the
    previous frame's mask and its review flag; the tracker is re-centred on the mask's box.
    The per-frame rule shared by ``pseudo-mask`` and re-propagation."""
    q = frame_quality(res.mask, prev_mask, score=res.score, stability=res.stability,
                      tracker_peak=tb.peak, border_px=thresholds.border_px)
    mbox = mask_box_xyxy(res.mask)
    if mbox is not None:
        tracker.correct(obj_id, mbox)
    return PseudoMask(mask_to_rle(res.mask), q, review_flag(q, thresholds))
