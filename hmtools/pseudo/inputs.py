"""The inputs of a pseudo-mask run: which videos (:class:`VideoJob`), which share of them this
process takes (sharding), and which device it runs on.

Sharding: ``shard=(k, n)`` or torchrun's ``RANK``/``WORLD_SIZE``: worker ``k`` takes every
``n``-th video of the list sorted by video id. Under torchrun ``cuda`` means ``cuda:<LOCAL_RANK>``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hmtools.errors import HMError
from hmtools.video import VideoSource, list_videos, open_video


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


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_video_id(name: str) -> str:
    """A store-safe id from a file or folder name (``my clip (1)`` -> ``my_clip_1``)."""
    vid = _UNSAFE.sub("_", name).strip("._-")
    return vid or "video"


def jobs_from_path(path: str | Path, dataset: str | None = None, split: str | None = None,
                   n_objects: int = VideoJob.n_objects) -> list[VideoJob]:
    """The videos under ``path``: a video file, a folder of videos, a frame folder, or a dataset.

    Args:
        path: the input.
        dataset: a dataset kind (a key of ``hmtools.datasets.DATASET_READERS``) to read
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

