"""``hmtools pseudo-mask``: per video, start boxes -> tracker -> segmenter -> quality -> one store write.

For each video of this shard: skip it when the store already holds its pseudo layer with the same
settings, else run it (:func:`hmtools.pseudo.video_loop.run_video`) and write the whole ``pseudo``
layer in ONE atomic write under the video's lock (a crash mid-video writes nothing; the
``corrected`` layer of an existing document is kept). Errors are per video; the run's
:class:`~hmtools.pseudo.report.RunSummary` lists them.

Resumable: the producer's params hold a ``settings_hash`` over everything that shapes the output
(backends, checkpoint sha256, parameters, thresholds, this video's prompts); a video whose stored
pseudo layer carries the same hash is skipped.

The pieces: :mod:`~hmtools.pseudo.settings` (the settings and their hash),
:mod:`~hmtools.pseudo.backends` (the registries of trackers, segmenters and detectors),
:mod:`~hmtools.pseudo.inputs` (videos, sharding, device), :mod:`~hmtools.pseudo.video_loop` (one
video), :mod:`~hmtools.pseudo.report` (outcomes and summary). Their public names are re-exported
here, the import path of the pipeline's API.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from hmtools.errors import HMError, StoreError, stops_the_batch
from hmtools.pseudo.backends import DETECTORS, SEGMENTERS, TRACKERS, Backends
from hmtools.pseudo.inputs import (VideoJob, jobs_from_path, parse_shard, resolve_device, resolve_shard,
                                   safe_video_id, shard_jobs)
from hmtools.pseudo.prompts import Prompts
from hmtools.pseudo.report import RunSummary, Timer, VideoOutcome, one_line_error
from hmtools.pseudo.settings import PseudoMaskSettings, settings_hash
from hmtools.pseudo.video_loop import VideoMasks, run_video

if TYPE_CHECKING:
    from hmtools.store import MaskStore

__all__ = ["DETECTORS", "SEGMENTERS", "TRACKERS", "Backends", "PseudoMaskSettings", "RunSummary", "Timer",
           "VideoJob", "VideoMasks", "VideoOutcome", "generate_pseudo_masks", "jobs_from_path", "open_store",
           "parse_shard", "pseudo_mask_source", "resolve_device", "resolve_shard", "run_video", "safe_video_id",
           "settings_hash", "shard_jobs", "write_layer"]


def write_layer(store, job: VideoJob, masks: VideoMasks, producer) -> None:
    """Replace the video's pseudo layer in ONE atomic write (the corrected layer is kept)."""
    from hmtools.store import Layer, TrackedObject, VideoDoc

    names, size_hw = masks.frame_names, masks.size_hw

    def create():
        return VideoDoc.new(job.video_id, size_hw, names, objects=masks.n_objects, dataset=job.dataset,
                            key=job.key, action_type=job.action_type, split=job.split,
                            synchronized=job.synchronized, event=job.event,
                            source=str(Path(job.source.path).resolve()))  # resolvable from anywhere

    with store.edit(job.video_id, create=create) as doc:
        if tuple(doc.frames) != tuple(names) or tuple(doc.size_hw) != tuple(size_hw):
            raise StoreError(f"{store.path(job.video_id)}: stored frames ({doc.n_frames}, "
                             f"{doc.size_hw[1]}x{doc.size_hw[0]}) differ from the video's "
                             f"({len(names)}, {size_hw[1]}x{size_hw[0]}); delete the document to regenerate")
        for obj_id in range(1, masks.n_objects + 1):
            if obj_id not in doc.object_ids:
                doc.objects.append(TrackedObject(obj_id))
        doc.clear_layer("pseudo")
        doc.producer = producer
        for i, obj_id, pm in Layer(masks.layer).items():
            doc.set_pseudo(i, obj_id, pm)


def _already_done(store, video_id: str, wanted_hash: str) -> bool:
    if video_id not in store:
        return False
    try:
        doc = store.read(video_id)
    except HMError:  # unreadable document: regenerate (the write replaces it atomically)
        return False
    return doc.producer is not None and doc.producer.params.get("settings_hash") == wanted_hash


def open_store(root: str | Path) -> MaskStore:
    """Open or create the store at ``root``, as several torchrun ranks may do at once."""
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


def store_in_use(root: str | Path) -> bool:
    """True when the store at ``root`` holds a video document, or other torchrun ranks may be
    writing into it: a failed run then keeps it (finished videos are skipped on a rerun)."""
    if os.environ.get("WORLD_SIZE", "1") not in ("", "0", "1"):
        return True
    videos = Path(root) / "videos"
    return videos.is_dir() and any(p.suffix == ".json" and not p.name.startswith(".") for p in videos.iterdir())


def _process(store, job: VideoJob, settings: PseudoMaskSettings, backends: Backends, prompts: Prompts,
             progress: bool) -> VideoOutcome:
    """One video: skipped, or run and written; exceptions go to the caller."""
    from tqdm import tqdm

    import hmtools
    from hmtools.store import Producer

    vid_prompts = prompts.for_video(job.video_id)
    h = settings_hash(settings, backends.checkpoints, vid_prompts)
    if _already_done(store, job.video_id, h):
        return VideoOutcome(job.video_id, "skipped")
    total = len(job.source.frame_paths) or None
    with tqdm(total=total, desc=job.video_id[:40], unit="frame", leave=False,
              disable=not progress, file=sys.stderr, position=1) as fbar:
        masks = run_video(job, backends, vid_prompts, fbar)
    params = dict(settings.output_params(), settings_hash=h,
                  start="prompts" if vid_prompts else settings.detect)
    producer = Producer(backend=settings.backend, params=params,
                        checkpoints=dict(backends.checkpoints), tool_version=hmtools.__version__)
    t0 = time.perf_counter()
    write_layer(store, job, masks, producer)
    masks.timer.total_s += time.perf_counter() - t0
    entries = [e for e in masks.layer if e]
    return VideoOutcome(job.video_id, "done", frames=len(masks.frame_names),
                        masks=sum(len(e) for e in entries),
                        flagged=sum(pm.flag.review for e in entries for pm in e.values()), timer=masks.timer,
                        note=masks.decoder_note)


def generate_pseudo_masks(jobs: Iterable[VideoJob], store: MaskStore,
                          settings: PseudoMaskSettings = PseudoMaskSettings(),
                          prompts: Prompts | None = None, shard: tuple[int, int] | None = None,
                          backends: Backends | None = None, progress: bool = True) -> RunSummary:
    """Run the pseudo-mask pipeline over ``jobs`` and write the store's pseudo layer.

    Args:
        jobs: videos (see :func:`jobs_from_path`).
        store: the opened mask store (:func:`open_store` opens or creates one).
        settings: backends and parameters.
        prompts: start boxes; videos without prompts use ``settings.detect``.
        shard: ``(k, n)``; default from torchrun's environment, else everything.
        backends: pre-built backends (tests, benchmarks); built from ``settings`` by default.
        progress: show tqdm bars on stderr.

    Returns:
        The run's :class:`RunSummary` (check ``.failed``).
    """
    from tqdm import tqdm

    shard = resolve_shard(shard)
    settings = replace(settings, device=resolve_device(settings.device))
    todo = shard_jobs(list(jobs), shard)
    if backends is None:
        backends = Backends(settings)
    prompts = prompts or Prompts([])
    outcomes: list[VideoOutcome] = []
    for job in tqdm(todo, desc=f"videos [{shard[0]}/{shard[1]}]", unit="video", disable=not progress,
                    file=sys.stderr, position=0):
        try:
            outcomes.append(_process(store, job, settings, backends, prompts, progress))
        except KeyboardInterrupt:
            raise
        except Exception as err:  # one bad video must not stop thousands of others
            if stops_the_batch(err, store.root):
                raise
            outcomes.append(VideoOutcome(job.video_id, "failed", error=one_line_error(err)))
    return RunSummary(outcomes, shard)


def pseudo_mask_source(source: str | Path, store: MaskStore, settings: PseudoMaskSettings = PseudoMaskSettings(),
                       *, dataset: str | None = None, split: str | None = None,
                       prompts_path: str | Path | None = None, truth_prompts: bool = False,
                       n_objects: int = VideoJob.n_objects, shard: str | None = None,
                       progress: bool = True) -> RunSummary:
    """``hmtools pseudo-mask``: the videos of ``source`` (see :func:`jobs_from_path`) through
    :func:`generate_pseudo_masks`.

    Args:
        prompts_path: a prompts file (:func:`hmtools.pseudo.prompts.read_prompts`).
        truth_prompts: with ``dataset="synthetic"``, start boxes from the true masks.
        shard: ``"K/N"`` (:func:`parse_shard`); default from torchrun's environment.
    """
    from hmtools.pseudo.prompts import read_prompts

    jobs = jobs_from_path(source, dataset=dataset, split=split, n_objects=n_objects)
    prompts = read_prompts(prompts_path) if prompts_path else None
    if truth_prompts:
        from hmtools.datasets import open_dataset
        from hmtools.pseudo.synth_eval import synth_prompts

        prompts = synth_prompts(source, open_dataset("synthetic", source).samples(split))
    return generate_pseudo_masks(jobs, store, settings, prompts=prompts,
                                 shard=parse_shard(shard) if shard else None, progress=progress)
