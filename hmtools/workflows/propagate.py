"""``hmtools propagate``: re-propagate the pseudo layer of stored videos from their corrections.

Per video of this shard (every ``n``-th video id, like ``pseudo-mask``): the corrections are the
anchors (:mod:`hmtools.pseudo.propagate`); the masks between them are regenerated with the run's
backends outside the lock, then written in one atomic write under the video's lock. Only pseudo
masks of frames without a correction of that athlete are replaced; if the corrections changed while
the video was being propagated, nothing is written and the video is reported as failed (run again).

Skipping: ``layers.pseudo.producer.params.propagation`` records ``hash`` (:func:`anchors_hash` over
the corrections and the run's output-shaping settings and checkpoint hashes), the backend, the
number of anchors and when; a video whose record carries the same hash is skipped, and a video with
no correction has nothing to propagate.

Example:
    >>> summary = propagate_store(store, PseudoMaskSettings(tracker="none"))   # doctest: +SKIP
    >>> print("\\n".join(summary.lines()))                                      # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

from hmtools.errors import HMError, VideoError, stops_the_batch
from hmtools.pseudo.propagate import anchors_hash, propagate_video
from hmtools.pseudo.report import VideoOutcome, one_line_error
from hmtools.store import MaskStore, Producer, VideoDoc, utc_now


@dataclass
class PropagateSummary:
    """Outcomes of a propagation run: ``done``, ``skipped`` (same anchors and settings),
    ``no-anchors`` or ``failed``."""

    outcomes: list[VideoOutcome] = field(default_factory=list)
    shard: tuple[int, int] = (0, 1)
    seconds: float = 0.0

    def by_status(self, status: str) -> list[VideoOutcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def failed(self) -> list[VideoOutcome]:
        return self.by_status("failed")

    def lines(self) -> list[str]:
        k, n = self.shard
        counts = {s: len(self.by_status(s)) for s in ("done", "skipped", "no-anchors", "failed")}
        masks = sum(o.masks for o in self.outcomes)
        out = [f"propagate shard {k}/{n}: {counts['done']} done, {counts['skipped']} skipped (same anchors "
               f"and settings), {counts['no-anchors']} without corrections, {counts['failed']} failed; "
               f"{masks} pseudo masks rewritten in {self.seconds:.1f} s"]
        out += [f"FAILED {o.video_id}: {o.error}" for o in self.failed]
        return out


def settings_fingerprint(settings, checkpoints: dict) -> dict:
    """What shapes a propagation's masks: the settings' output parameters and checkpoint hashes."""
    return {"params": settings.output_params(), "checkpoints": dict(checkpoints)}


def doc_source(doc: VideoDoc, frames_root: str | Path | None = None):
    """A :class:`~hmtools.video.VideoSource` of the document's frames (``doc.source``, else found
    under ``frames_root`` as the editor and export-cvat do)."""
    from hmtools.frames import FrameReader
    from hmtools.video import VideoSource, open_video

    src = FrameReader(frames_root).source_path(doc)
    if src.is_dir():
        return VideoSource.from_frame_paths(doc.video_id, [src / name for name in doc.frames])
    return open_video(src, doc.video_id)


def propagate_one(store: MaskStore, video_id: str, backends, *, source=None,
                  frames_root: str | Path | None = None, only_from: int | None = None,
                  force: bool = False) -> VideoOutcome:
    """Re-propagate one stored video; its outcome (exceptions go to the caller).

    Args:
        source: the video's frames (default: :func:`doc_source`).
        only_from: frame index of one anchor: only the runs from it (no skip check; the record is
            left as it was, since the other gaps were not redone).
        force: propagate even when the stored record says it was done with these anchors.
    """
    import hmtools

    doc = store.read(video_id)
    fp = settings_fingerprint(backends.settings, backends.checkpoints)
    wanted = anchors_hash(doc, fp)
    if not doc.corrected.has_masks():
        return VideoOutcome(video_id, "no-anchors")
    if only_from is not None and not doc.corrected.is_annotated(only_from):
        raise HMError(f"video {video_id}: frame {doc.frames[only_from]} has no correction to propagate from")
    record = (doc.producer.params.get("propagation") or {}) if doc.producer else {}
    if only_from is None and not force and record.get("hash") == wanted:
        return VideoOutcome(video_id, "skipped")
    source = source if source is not None else doc_source(doc, frames_root)
    names = source.frame_names()
    if names is not None and tuple(names) != tuple(doc.frames):
        raise VideoError(f"video {video_id}: the frames of {source.path} ({len(names)}) are not the "
                         f"document's ({doc.n_frames})")
    masks = propagate_video(doc, source, backends, only_from=only_from)
    written = 0
    with store.edit(video_id) as cur:
        if anchors_hash(cur, fp) != wanted:
            raise HMError(f"video {video_id}: its corrections changed while propagating; nothing written, "
                          "run again")
        for (i, obj_id), pm in masks.items():
            if cur.correction(i, obj_id) is None:
                cur.set_pseudo(i, obj_id, pm)
                written += 1
        if only_from is None:
            s = backends.settings
            params = dict(cur.producer.params) if cur.producer else {}
            params["propagation"] = {"hash": wanted, "backend": s.backend, "params": s.output_params(),
                                     "anchors": sum(1 for _ in cur.corrected.items()), "created": utc_now()}
            cur.producer = (replace(cur.producer, params=params) if cur.producer else
                            Producer(backend=s.backend, params=params, checkpoints=dict(backends.checkpoints),
                                     tool_version=hmtools.__version__))
    return VideoOutcome(video_id, "done", frames=doc.n_frames, masks=written,
                        flagged=sum(pm.flag.review for pm in masks.values()))


def propagate_store(store: MaskStore, settings=None, *, video_ids: Sequence[str] | None = None,
                    jobs=None, shard: tuple[int, int] | None = None, backends=None,
                    frames_root: str | Path | None = None, force: bool = False,
                    progress: bool = False) -> PropagateSummary:
    """Re-propagate every video of ``store`` (or ``video_ids``, or the videos of ``jobs``) in this shard.

    Args:
        settings: a :class:`~hmtools.pseudo.settings.PseudoMaskSettings` (backends and parameters).
        jobs: :class:`~hmtools.pseudo.inputs.VideoJob` s (``jobs_from_path``: a video, a folder or a
            dataset) whose frames are read from their source instead of ``doc.source``.
        shard: ``(k, n)``; default from torchrun's environment, else everything.
        backends: pre-built :class:`~hmtools.pseudo.backends.Backends` (tests, benchmarks).
    """
    from tqdm import tqdm

    from hmtools.pseudo.backends import Backends
    from hmtools.pseudo.inputs import resolve_device, resolve_shard
    from hmtools.pseudo.settings import PseudoMaskSettings

    t0 = time.perf_counter()
    shard = resolve_shard(shard)
    if backends is None:
        settings = settings or PseudoMaskSettings()
        backends = Backends(replace(settings, device=resolve_device(settings.device)))
    sources = {}
    if jobs is not None:
        sources = {j.video_id: j.source for j in jobs}
        ids = [v for v in sources if v in store]
    else:
        ids = list(video_ids) if video_ids is not None else list(store.video_ids())
    k, n = shard
    ids = sorted(ids)[k::n]
    summary = PropagateSummary(shard=shard)
    for vid in tqdm(ids, desc=f"propagate [{k}/{n}]", unit="video", disable=not progress):
        try:
            summary.outcomes.append(propagate_one(store, vid, backends, source=sources.get(vid),
                                                  frames_root=frames_root, force=force))
        except KeyboardInterrupt:
            raise
        except Exception as err:  # one bad video must not stop the others
            if stops_the_batch(err, store.root):
                raise
            summary.outcomes.append(VideoOutcome(vid, "failed", error=one_line_error(err)))
    summary.seconds = time.perf_counter() - t0
    return summary
