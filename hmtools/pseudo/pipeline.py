"""``hmtools pseudo-mask``: per video, start boxes -> tracker -> segmenter -> quality -> one store write.

For each video: objects start from a prompts file (or HOG person detection on the first frames),
the tracker proposes a box per object per frame, the segmenter turns boxes into masks, every mask
gets its quality signals and review flag, and the whole ``pseudo`` layer is written to the mask
store in ONE atomic write under the video's lock (a crash mid-video writes nothing; the
``corrected`` layer of an existing document is kept).

Resumable: the producer's params hold a ``settings_hash`` over everything that shapes the output
(backends, checkpoint sha256, parameters, thresholds, this video's prompts); a video whose stored
pseudo layer carries the same hash is skipped. Sharding: ``shard=(k, n)`` or torchrun's
``RANK``/``WORLD_SIZE``: worker ``k`` takes every ``n``-th video of the sorted list. Errors are
per video; the summary lists them.

Batching: with OSTrack (whose boxes do not depend on the masks) frames are segmented
``segmenter.batch_size`` at a time, so SAM's encoder sees several frames per call; the OpenCV and
mask-propagation trackers take each mask's box back before the next frame, so they go frame by frame.
The classical segmenter first learns the video's background, so its videos are decoded twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from hmtools.errors import HMError, StoreError, VideoError
from hmtools.pseudo.base import TrackedBox, clip_xyxy, mask_box_xyxy
from hmtools.pseudo.offline import ClassicalParams
from hmtools.pseudo.prompts import Prompt, Prompts, PromptsError
from hmtools.pseudo.quality import QualityThresholds, frame_quality, review_flag
from hmtools.video import VideoSource, list_videos, open_video, prefetch

TRACKERS = ("ostrack", "opencv", "none")
SEGMENTERS = ("sam", "classical")
DETECTORS = ("hog",)


@dataclass(frozen=True)
class PseudoMaskSettings:
    """Everything that configures a pseudo-mask run (library defaults live here).

    Attributes:
        tracker: ``ostrack``, ``opencv`` (cv2 MIL) or ``none`` (previous mask's box).
        segmenter: ``sam`` or ``classical`` (GrabCut).
        ostrack_config / ostrack_checkpoint: ``vitb_256`` or ``vitb_384`` and its local file.
        sam_model / sam_checkpoint: ``vit_h`` / ``vit_l`` / ``vit_b`` and its local file.
        device: ``cpu`` or ``cuda`` (``cuda:<LOCAL_RANK>`` under torchrun).
        detect: ``hog`` to find people on the first ``detect_frames`` frames of videos without
            prompts; ``None`` to require prompts.
        sam_encoder_batch: frames per SAM encoder call (only with ``ostrack``).
        sam_multimask: pick the best of SAM's three masks by predicted IoU.
        half: reduced precision on CUDA.
        allow_pickled_objects: let checkpoints that pickled training objects load (placeholders).
        prefetch_frames: frames decoded ahead in a background thread.
    """

    tracker: str = "opencv"
    segmenter: str = "classical"
    ostrack_config: str = "vitb_256"
    ostrack_checkpoint: str | None = None
    sam_model: str = "vit_h"
    sam_checkpoint: str | None = None
    device: str = "cpu"
    detect: str | None = None
    detect_frames: int = 10
    sam_encoder_batch: int = 4
    sam_multimask: bool = True
    half: bool = True
    allow_pickled_objects: bool = False
    prefetch_frames: int = 8
    classical: ClassicalParams = ClassicalParams()
    thresholds: QualityThresholds = QualityThresholds()

    def __post_init__(self):
        if self.tracker not in TRACKERS:
            raise ValueError(f"tracker must be one of {TRACKERS}, got {self.tracker!r}")
        if self.segmenter not in SEGMENTERS:
            raise ValueError(f"segmenter must be one of {SEGMENTERS}, got {self.segmenter!r}")
        if self.detect is not None and self.detect not in DETECTORS:
            raise ValueError(f"detect must be one of {DETECTORS} or None, got {self.detect!r}")
        if self.detect_frames < 1 or self.sam_encoder_batch < 1 or self.prefetch_frames < 1:
            raise ValueError("detect_frames, sam_encoder_batch and prefetch_frames must be >= 1")

    @property
    def backend(self) -> str:
        return f"{self.tracker}+{self.segmenter}"

    def output_params(self) -> dict:
        """The settings that shape the masks (not device, batch sizes or prefetching)."""
        p: dict[str, Any] = {"tracker": self.tracker, "segmenter": self.segmenter,
                             "detect": self.detect, "detect_frames": self.detect_frames,
                             "thresholds": asdict(self.thresholds)}
        if self.tracker == "ostrack":
            p["ostrack_config"] = self.ostrack_config
        if self.segmenter == "sam":
            p.update(sam_model=self.sam_model, sam_multimask=self.sam_multimask)
        else:
            p["classical"] = asdict(self.classical)
        return p


@dataclass(frozen=True)
class VideoJob:
    """One video to process, with the metadata its store document records.

    Attributes:
        source: where the frames come from.
        n_objects: athletes to follow when detecting (2 for synchronized diving); with prompts, the
            largest prompted object id wins if larger.
    """

    source: VideoSource
    n_objects: int = 1
    dataset: str | None = None
    key: Any = None
    action_type: str | None = None
    split: str | None = None
    synchronized: bool | None = None
    event: str | None = None

    @property
    def video_id(self) -> str:
        return self.source.video_id


@dataclass
class Timer:
    """Seconds spent in the models vs. everything else (decoding, crops, RLE, quality, writes)."""

    tracker_s: float = 0.0
    segmenter_s: float = 0.0
    detector_s: float = 0.0
    total_s: float = 0.0
    frames: int = 0

    @property
    def model_s(self) -> float:
        return self.tracker_s + self.segmenter_s + self.detector_s

    @property
    def other_share(self) -> float:
        """Fraction of the wall time spent outside the models."""
        return 0.0 if self.total_s <= 0 else max(0.0, self.total_s - self.model_s) / self.total_s

    def add(self, other: "Timer") -> None:
        for f in ("tracker_s", "segmenter_s", "detector_s", "total_s", "frames"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


@dataclass
class VideoOutcome:
    """What happened to one video: ``done``, ``skipped`` (same settings already stored) or ``failed``."""

    video_id: str
    status: str
    error: str | None = None
    frames: int = 0
    masks: int = 0
    flagged: int = 0
    timer: Timer = field(default_factory=Timer)


@dataclass
class RunSummary:
    """Outcomes of a run, in processing order."""

    outcomes: list[VideoOutcome]
    shard: tuple[int, int] = (0, 1)

    def by_status(self, status: str) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> list[VideoOutcome]:
        return self.by_status("failed")

    @property
    def timer(self) -> Timer:
        t = Timer()
        for o in self.outcomes:
            t.add(o.timer)
        return t

    def lines(self) -> list[str]:
        """Human-readable summary: counts, speed, then one line per failed video."""
        t = self.timer
        done, skipped, failed = (len(self.by_status(s)) for s in ("done", "skipped", "failed"))
        masks = sum(o.masks for o in self.outcomes)
        flagged = sum(o.flagged for o in self.outcomes)
        k, n = self.shard
        out = [f"shard {k}/{n}: {done} done, {skipped} skipped (already done with these settings), "
               f"{failed} failed; {masks} masks, {flagged} flagged for review"]
        if t.frames:
            out.append(f"{t.frames} frames in {t.total_s:.1f} s ({t.frames / max(t.total_s, 1e-9):.1f} fps); "
                       f"{100 * (1 - t.other_share):.0f}% of the time inside the models")
        out += [f"FAILED {o.video_id}: {o.error}" for o in self.failed]
        return out


# -- inputs ----------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_video_id(name: str) -> str:
    """A store-safe id from a file or folder name (``my clip (1)`` -> ``my_clip_1``)."""
    vid = _UNSAFE.sub("_", name).strip("._-")
    return vid or "video"


def jobs_from_path(path: str | Path, dataset: str | None = None, split: str | None = None,
                   n_objects: int = 1) -> list[VideoJob]:
    """The videos under ``path``: a video file, a folder of videos, a frame folder, or a dataset.

    Args:
        path: the input.
        dataset: a dataset kind (``finediving``, ``synthetic``, ``mtlaqa``, ``aqa7``) to read
            ``path`` through :func:`hmtools.datasets.open_dataset`; synchronized clips get two objects.
        split: only this split of the dataset.
        n_objects: objects per raw video (datasets decide per clip).
    """
    if dataset is not None:
        from hmtools.datasets import open_dataset

        ds = open_dataset(dataset, path)
        return [VideoJob(VideoSource.from_frame_paths(s.video_id, s.frame_paths),
                         n_objects=2 if s.synchronized else 1, dataset=s.dataset, key=list(s.key),
                         action_type=s.action_type, split=s.split, synchronized=s.synchronized,
                         event=s.event)
                for s in ds.samples(split)]
    p = Path(path)
    if p.is_dir():
        videos = list_videos(p)
        if videos:
            return [VideoJob(VideoSource(safe_video_id(v.path.stem), v.path), n_objects) for v in videos]
    src = open_video(p)
    return [VideoJob(VideoSource(safe_video_id(src.video_id), src.path, src.frame_paths), n_objects)]


def resolve_shard(shard: tuple[int, int] | None = None) -> tuple[int, int]:
    """``(k, n)`` from the argument, else torchrun's ``RANK``/``WORLD_SIZE``, else ``(0, 1)``."""
    if shard is None:
        rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
        if rank is None or world is None:
            return 0, 1
        try:
            shard = int(rank), int(world)
        except ValueError:
            raise HMError(f"RANK={rank!r} / WORLD_SIZE={world!r} are not integers") from None
    k, n = shard
    if n < 1 or not 0 <= k < n:
        raise HMError(f"shard {k}/{n}: need 0 <= K < N")
    return k, n


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)`` (0-based K)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise HMError(f"--shard {text!r}: expected K/N, e.g. 0/4")
    return resolve_shard((int(m.group(1)), int(m.group(2))))


def shard_jobs(jobs: Sequence[VideoJob], shard: tuple[int, int]) -> list[VideoJob]:
    """Every ``n``-th job of the list sorted by video id, starting at ``k``."""
    k, n = shard
    ordered = sorted(jobs, key=lambda j: j.video_id)
    return ordered[k::n]


def resolve_device(device: str) -> str:
    """``cuda`` becomes ``cuda:<LOCAL_RANK>`` under torchrun; CUDA without a GPU is a clear error."""
    if not device.startswith("cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        raise HMError(f"--device {device}: CUDA is not available on this machine (use --device cpu)")
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{int(os.environ['LOCAL_RANK'])}"
    return device


# -- backends --------------------------------------------------------------------------------

class Backends:
    """Models loaded once per run; a fresh tracker per video.

    Args:
        settings: the run's settings (device already resolved).
    """

    def __init__(self, settings: PseudoMaskSettings):
        from hmtools.pseudo.checkpoints import file_sha256

        self.settings = settings
        self.checkpoints: dict[str, str] = {}
        self._ostrack = None
        s = settings
        if s.tracker == "ostrack":
            from hmtools.pseudo.ostrack.weights import load_ostrack

            self._ostrack = load_ostrack(s.ostrack_config, s.ostrack_checkpoint, s.allow_pickled_objects)
            self.checkpoints["ostrack"] = file_sha256(s.ostrack_checkpoint)
        if s.segmenter == "sam":
            from hmtools.pseudo.sam import SamSegmenter, load_sam

            sam = load_sam(s.sam_model, s.sam_checkpoint)
            self.checkpoints["sam"] = file_sha256(s.sam_checkpoint)
            self.segmenter = SamSegmenter(sam, device=s.device, encoder_batch=s.sam_encoder_batch,
                                          half=s.half, multimask=s.sam_multimask)
        else:
            from hmtools.pseudo.offline import ClassicalSegmenter

            self.segmenter = ClassicalSegmenter(s.classical)

    @classmethod
    def from_parts(cls, settings: PseudoMaskSettings, segmenter, ostrack_model=None,
                   checkpoints: dict[str, str] | None = None) -> "Backends":
        """Backends from ready objects (tests and benchmarks with tiny random-weight models)."""
        self = cls.__new__(cls)
        self.settings, self.segmenter, self._ostrack = settings, segmenter, ostrack_model
        self.checkpoints = dict(checkpoints or {})
        return self

    def new_tracker(self):
        s = self.settings
        if s.tracker == "ostrack":
            from hmtools.pseudo.ostrack.tracker import OSTrackTracker

            return OSTrackTracker(self._ostrack, device=s.device, half=s.half)
        if s.tracker == "opencv":
            from hmtools.pseudo.offline import OpenCVTracker

            return OpenCVTracker()
        from hmtools.pseudo.offline import MaskPropagationTracker

        return MaskPropagationTracker()

    @property
    def batch_size(self) -> int:
        """Frames per segmenter call: > 1 only when the tracker needs no mask feedback."""
        if self.settings.tracker != "ostrack" or getattr(self.segmenter, "needs_sequential", True):
            return 1
        return max(1, int(getattr(self.segmenter, "batch_size", 1)))


def settings_hash(settings: PseudoMaskSettings, checkpoints: dict[str, str],
                  prompts: Sequence[Prompt]) -> str:
    """sha256 (16 hex digits) over the output-shaping settings, checkpoint hashes and prompts."""
    payload = {"params": settings.output_params(), "checkpoints": checkpoints,
               "prompts": sorted([str(p.frame), p.object_id, list(p.box_xyxy)] for p in prompts)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


# -- one video -------------------------------------------------------------------------------

@dataclass
class _ObjectTrack:
    prev_mask: np.ndarray | None = None


def _start_box(p: Prompt, size_hw: tuple[int, int]) -> tuple[float, float, float, float]:
    box = clip_xyxy(p.box_xyxy, size_hw)
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        raise PromptsError(f"{p.where}: box {p.box_xyxy} lies outside the {size_hw[1]}x{size_hw[0]} "
                           f"frames of video {p.video}")
    return box


def _detect(frame_rgb: np.ndarray, n_objects: int, last_try: bool, timer: Timer):
    from hmtools.pseudo.offline import detect_people

    t0 = time.perf_counter()
    dets = detect_people(frame_rgb, max_people=n_objects)
    timer.detector_s += time.perf_counter() - t0
    if len(dets) >= n_objects or (last_try and dets):
        return sorted((b for b, _ in dets), key=lambda b: b[0])  # object 1 = leftmost
    return None


def run_video(job: VideoJob, backends: Backends, prompts: Sequence[Prompt], progress=None):
    """Track and segment one video; returns ``(frame_names, size_hw, layer, n_objects, timer)``.

    ``layer`` is a list over frames of ``None`` (no object active yet) or ``{obj_id: PseudoMask}``.

    Raises:
        VideoError / PromptsError / HMError: per-video problems (unreadable frames, prompts that do
            not fit, nobody detected).
    """
    from hmtools.rle import mask_to_rle
    from hmtools.store import PseudoMask

    s = backends.settings
    timer = Timer()
    t_start = time.perf_counter()
    tracker = backends.new_tracker()
    segmenter = backends.segmenter
    if hasattr(segmenter, "reset"):
        segmenter.reset()
    by_index: dict[int, list[Prompt]] = {}
    by_name: dict[str, list[Prompt]] = {}
    for p in prompts:
        if isinstance(p.frame, int):
            by_index.setdefault(p.frame, []).append(p)
        else:
            by_name.setdefault(p.frame, []).append(p)
    used: set[int] = set()
    n_objects = max([job.n_objects] + [p.object_id for p in prompts])
    detecting = not prompts
    if detecting and s.detect is None:
        raise PromptsError(f"video {job.video_id}: no prompt in the prompts file and no detector "
                           f"(pass --prompts FILE or --detect hog)")
    tracks: dict[int, _ObjectTrack] = {}
    names: list[str] = []
    layer: list[dict | None] = []
    size_hw: tuple[int, int] | None = None
    pending: list[tuple[int, np.ndarray, dict[int, TrackedBox]]] = []
    batch = backends.batch_size
    thresholds = s.thresholds

    def flush():
        if not pending:
            return
        t0 = time.perf_counter()
        segs = segmenter.segment([f for _, f, _ in pending],
                                 [{o: b.box_xyxy for o, b in boxes.items()} for _, _, boxes in pending],
                                 [i for i, _, _ in pending])
        timer.segmenter_s += time.perf_counter() - t0
        for (idx, _, boxes), seg in zip(pending, segs):
            entry = {}
            for obj_id, tb in boxes.items():
                res = seg[obj_id]
                tr = tracks[obj_id]
                q = frame_quality(res.mask, tr.prev_mask, score=res.score, stability=res.stability,
                                  tracker_peak=tb.peak, border_px=thresholds.border_px)
                entry[obj_id] = PseudoMask(mask_to_rle(res.mask), q, review_flag(q, thresholds))
                tr.prev_mask = res.mask
                mbox = mask_box_xyxy(res.mask)
                if mbox is not None:
                    tracker.correct(obj_id, mbox)
            layer[idx] = entry
        pending.clear()

    if getattr(segmenter, "wants_background", False):
        # A first decoding pass: the segmenter learns the video's background. Time spent waiting
        # for frames is decoding, not model time.
        waited = [0.0]

        def images():
            it = prefetch(job.source.frames(), depth=s.prefetch_frames)
            while True:
                t_wait = time.perf_counter()
                frame = next(it, None)
                waited[0] += time.perf_counter() - t_wait
                if frame is None:
                    return
                yield frame.image_rgb

        t0 = time.perf_counter()
        segmenter.prepare(images())
        timer.segmenter_s += time.perf_counter() - t0 - waited[0]

    for frame in prefetch(job.source.frames(), depth=s.prefetch_frames):
        img = frame.image_rgb
        if size_hw is None:
            size_hw = img.shape[:2]
        names.append(frame.name)
        layer.append(None)
        boxes: dict[int, TrackedBox] = {}
        if tracks:
            t0 = time.perf_counter()
            boxes = tracker.step(img)
            timer.tracker_s += time.perf_counter() - t0
        starts: list[tuple[int, tuple[float, float, float, float]]] = []
        for p in by_index.get(frame.index, []) + by_name.get(frame.name, []):
            used.add(id(p))
            starts.append((p.object_id, _start_box(p, size_hw)))
        if detecting and not tracks and frame.index < s.detect_frames:
            found = _detect(img, n_objects, frame.index == s.detect_frames - 1, timer)
            if found:
                starts += [(i + 1, b) for i, b in enumerate(found)]
        if starts:
            t0 = time.perf_counter()
            for obj_id, box in starts:
                tracker.start(img, obj_id, box)
                boxes[obj_id] = TrackedBox(box)
                tracks.setdefault(obj_id, _ObjectTrack())
                if hasattr(segmenter, "forget"):
                    segmenter.forget(obj_id)
            timer.tracker_s += time.perf_counter() - t0
        if boxes:
            pending.append((frame.index, img, boxes))
            if len(pending) >= batch:
                flush()
        if progress is not None:
            progress.update(1)
    flush()
    if size_hw is None:
        raise VideoError(f"{job.source.path}: no frames")
    unused = [p for p in prompts if id(p) not in used]
    if unused:
        p = unused[0]
        raise PromptsError(f"{p.where}: video {job.video_id} has no frame {p.frame!r} "
                           f"({len(names)} frames, {names[0]} .. {names[-1]})")
    if detecting and not tracks:
        raise HMError(f"video {job.video_id}: no person detected in the first {s.detect_frames} "
                      f"frames; give start boxes with --prompts FILE")
    timer.frames = len(names)
    timer.total_s = time.perf_counter() - t_start
    return names, size_hw, layer, n_objects, timer


def write_layer(store, job: VideoJob, names: list[str], size_hw: tuple[int, int], layer: list,
                n_objects: int, producer) -> None:
    """Replace the video's pseudo layer in ONE atomic write (the corrected layer is kept)."""
    from hmtools.store import TrackedObject, VideoDoc

    def create():
        return VideoDoc.new(job.video_id, size_hw, names, objects=n_objects, dataset=job.dataset,
                            key=job.key, action_type=job.action_type, split=job.split,
                            synchronized=job.synchronized, event=job.event,
                            source=str(job.source.path))

    with store.edit(job.video_id, create=create) as doc:
        if tuple(doc.frames) != tuple(names) or tuple(doc.size_hw) != tuple(size_hw):
            raise StoreError(f"{store.path(job.video_id)}: stored frames ({doc.n_frames}, "
                             f"{doc.size_hw[1]}x{doc.size_hw[0]}) differ from the video's "
                             f"({len(names)}, {size_hw[1]}x{size_hw[0]}); delete the document to regenerate")
        for obj_id in range(1, n_objects + 1):
            if obj_id not in doc.object_ids:
                doc.objects.append(TrackedObject(obj_id))
        doc.clear_layer("pseudo")
        doc.producer = producer
        for i, entry in enumerate(layer):
            for obj_id, pm in (entry or {}).items():
                doc.set_pseudo(i, obj_id, pm)


def _already_done(store, video_id: str, wanted_hash: str) -> bool:
    if video_id not in store:
        return False
    try:
        doc = store.read(video_id)
    except HMError:  # unreadable document: regenerate (the write replaces it atomically)
        return False
    return doc.producer is not None and doc.producer.params.get("settings_hash") == wanted_hash


def _open_store(root: str | Path):
    from hmtools.store import MaskStore

    # Several ranks may create the store at once: retry while another one is half-way.
    for attempt in range(20):
        try:
            return MaskStore.open_or_create(root)
        except StoreError:
            if attempt == 19:
                raise
            time.sleep(0.25)
    raise StoreError(f"{root}: cannot open or create the mask store")


def generate_pseudo_masks(jobs: Iterable[VideoJob], store_root: str | Path,
                          settings: PseudoMaskSettings = PseudoMaskSettings(),
                          prompts: Prompts | None = None, shard: tuple[int, int] | None = None,
                          backends: Backends | None = None, progress: bool = True) -> RunSummary:
    """Run the pseudo-mask pipeline over ``jobs`` and write the store's pseudo layer.

    Args:
        jobs: videos (see :func:`jobs_from_path`).
        store_root: the mask store (created when missing).
        settings: backends and parameters.
        prompts: start boxes; videos without prompts use ``settings.detect``.
        shard: ``(k, n)``; default from torchrun's environment, else everything.
        backends: pre-built backends (tests, benchmarks); built from ``settings`` by default.
        progress: show tqdm bars on stderr.

    Returns:
        The run's :class:`RunSummary` (check ``.failed``).
    """
    from tqdm import tqdm

    import hmtools
    from hmtools.store import Producer

    shard = resolve_shard(shard)
    settings = _with_device(settings)
    todo = shard_jobs(list(jobs), shard)
    store = _open_store(store_root)
    if backends is None:
        backends = Backends(settings)
    prompts = prompts or Prompts([])
    outcomes: list[VideoOutcome] = []
    bar = tqdm(todo, desc=f"videos [{shard[0]}/{shard[1]}]", unit="video", disable=not progress,
               file=sys.stderr, position=0)
    for job in bar:
        vid_prompts = prompts.for_video(job.video_id)
        h = settings_hash(settings, backends.checkpoints, vid_prompts)
        try:
            if _already_done(store, job.video_id, h):
                outcomes.append(VideoOutcome(job.video_id, "skipped"))
                continue
            total = len(job.source.frame_paths) or None
            with tqdm(total=total, desc=job.video_id[:40], unit="frame", leave=False,
                      disable=not progress, file=sys.stderr, position=1) as fbar:
                names, size_hw, layer, n_obj, timer = run_video(job, backends, vid_prompts, fbar)
            params = dict(settings.output_params(), settings_hash=h,
                          start="prompts" if vid_prompts else settings.detect)
            producer = Producer(backend=settings.backend, params=params,
                                checkpoints=dict(backends.checkpoints), tool_version=hmtools.__version__)
            t0 = time.perf_counter()
            write_layer(store, job, names, size_hw, layer, n_obj, producer)
            timer.total_s += time.perf_counter() - t0
            masks = sum(len(e) for e in layer if e)
            flagged = sum(pm.flag.review for e in layer if e for pm in e.values())
            outcomes.append(VideoOutcome(job.video_id, "done", frames=len(names), masks=masks,
                                         flagged=flagged, timer=timer))
        except KeyboardInterrupt:
            raise
        except Exception as err:  # one bad video must not stop thousands of others
            outcomes.append(VideoOutcome(job.video_id, "failed", error=_one_line(err)))
    return RunSummary(outcomes, shard)


def _with_device(settings: PseudoMaskSettings) -> PseudoMaskSettings:
    from dataclasses import replace

    return replace(settings, device=resolve_device(settings.device))


def _one_line(err: BaseException) -> str:
    msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
    if isinstance(err, HMError):
        return msg
    return f"{type(err).__name__}: {msg}" if msg else type(err).__name__

