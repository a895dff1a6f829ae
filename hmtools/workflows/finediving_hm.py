"""FineDiving-HM mask folders into and out of the store (``hmtools import-hm`` / ``hmtools export-hm``).

The folder layout, the pairing by name, the threshold and the accepted sizes are the converters'
(:mod:`hmtools.formats.finediving_hm`); this module decides what goes where in the store:

- A FineDiving-HM mask is the union of the athletes of a frame, so it becomes object 1. In the
  corrected layer the other objects of a multi-athlete document are set to ``empty`` so that the
  frame's effective mask is exactly the imported one.
- Pseudo layer: producer ``import-hm``, the source size recorded in ``params.source_size_hw`` when
  the masks were resized. Corrected layer: tool ``import-hm`` (``"import-hm (resized from
  128x228)"``), the status from the store's one rule (:meth:`~hmtools.store.VideoDoc.make_correction`).
- Frames without a mask file (gaps) are left not annotated (``null``, not empty) and counted per
  video; ``strict=True`` rejects such a video instead. A file that names no frame rejects it always.
- Every file of a video is checked before its document is written (atomically, under its lock);
  a bad video is reported as one line naming the file and left unchanged, the others go on.
  Folders are decoded in a small process pool when there are many videos.

Example:
    >>> rep = import_hm(store, "FineDiving_HM", [target_from_doc(store.read("01__10"))])  # doctest: +SKIP
    >>> export_hm(store, "out_hm", layer="effective", fmt="jpg")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hmtools.atomic import atomic_write_bytes, make_dirs, removed_on_error
from hmtools.errors import HMError, StoreError
from hmtools.formats.finediving_hm import EXPORT_FORMATS, hm_folder, hm_folder_to_rles, mask_to_hm_image, short_list
from hmtools.rle import RLE, empty_rle, rle_to_mask
from hmtools.video import frame_file_problem, read_frame_image
from hmtools.workers import process_pool
from hmtools.store import LAYERS, MASK_SOURCES, MaskStore, Producer, PseudoMask, TrackedObject, VideoDoc, utc_now

EXPORT_LAYERS = MASK_SOURCES
IMPORT_LAYERS = LAYERS
TOOL = "import-hm"
META_FIELDS = ("dataset", "key", "action_type", "split", "synchronized", "event", "source")


@dataclass(frozen=True)
class VideoTarget:
    """A video that masks are paired with: its id, frame size, frame names and metadata.

    Attributes:
        video_id: store id.
        size_hw: ``(H, W)`` of the frames.
        frames: frame file names in temporal order.
        meta: document metadata for a new document (keys from :data:`META_FIELDS`).
    """

    video_id: str
    size_hw: tuple[int, int]
    frames: tuple[str, ...]
    meta: dict = field(default_factory=dict)
    frame_paths: tuple[Path, ...] = ()  # the frame files, checked before pairing (dataset targets)


def target_from_doc(doc: VideoDoc) -> VideoTarget:
    """Pair masks with an existing store document (its frames and size are the truth)."""
    return VideoTarget(doc.video_id, tuple(doc.size_hw), tuple(doc.frames),
                       {k: getattr(doc, k) for k in META_FIELDS})


def target_from_sample(sample) -> VideoTarget:
    """Pair masks with a dataset :class:`~hmtools.datasets.Sample`; the size is read from its first frame.

    Raises:
        StoreError: the first frame cannot be read.
    """
    import cv2

    first = sample.frame_paths[0]
    try:
        image = read_frame_image(first, flags=cv2.IMREAD_GRAYSCALE)
    except HMError as err:
        raise StoreError(f"{err} (the first frame of {sample.video_id}, read for its size)") from None
    key = list(sample.key) if isinstance(sample.key, tuple) else sample.key
    meta = {"dataset": sample.dataset, "key": key, "action_type": sample.action_type,
            "split": sample.split, "synchronized": sample.synchronized, "event": sample.event,
            "source": str(first.parent)}
    return VideoTarget(sample.video_id, (int(image.shape[0]), int(image.shape[1])), sample.frame_names, meta,
                       tuple(sample.frame_paths))


def _read_job(job: tuple[Path, VideoTarget, Path]):
    """Worker: ``(rles, resized)`` or the error line."""
    folder, target, root, strict = job
    for path in target.frame_paths:  # the frames the masks pair with must be whole, like in training
        problem = frame_file_problem(path)
        if problem is not None:
            return f"{path}: {problem} (frame of {target.video_id}; its masks are not imported)"
    try:
        return hm_folder_to_rles(folder, target.frames, target.size_hw, root, allow_gaps=not strict)
    except HMError as err:
        return str(err)


def import_targets(store: MaskStore, dataset: str | None = None, data_root: str | Path | None = None, *,
                   split: str | None = None, video_ids: Sequence[str] | None = None
                   ) -> tuple[list[VideoTarget], list[str], list[str]]:
    """The videos to import into: a dataset's samples (documents already in the store win), or
    without ``dataset`` the store's documents.

    Returns:
        ``(targets, problems, failed_ids)``: one problem line per video whose target could not be
        made (e.g. an unreadable first frame), and those videos' ids (pass them to
        :func:`import_hm` as ``known_ids``, so their folders are not reported a second time); the
        other videos go on.

    Raises:
        DatasetError: the dataset itself cannot be read; StoreError: an unknown ``video_ids`` entry.
    """
    problems: list[str] = []
    failed_ids: list[str] = []
    targets: list[VideoTarget] = []
    if dataset is None:
        ids = list(video_ids) if video_ids is not None else store.video_ids()
        for vid in ids:
            try:
                targets.append(target_from_doc(store.read(vid)))
            except HMError as err:
                problems.append(str(err))
                failed_ids.append(vid)
        return targets, problems, failed_ids
    from hmtools.datasets import open_dataset

    samples = open_dataset(dataset, data_root, on_defect="warn").samples(split)
    if video_ids is not None:
        wanted = set(video_ids)
        unknown = wanted - {s.video_id for s in samples}
        if unknown:
            raise StoreError(f"{data_root}: no {dataset} video(s) {short_list(unknown)}")
        samples = [s for s in samples if s.video_id in wanted]
    for sample in samples:
        try:
            targets.append(target_from_doc(store.read(sample.video_id)) if sample.video_id in store
                           else target_from_sample(sample))
        except HMError as err:
            problems.append(str(err))
            failed_ids.append(sample.video_id)
    return targets, problems, failed_ids


@dataclass
class ImportReport:
    """What :func:`import_hm` did.

    Attributes:
        imported: video ids written.
        failed: one line per rejected video (nothing was written for it).
        no_folder: targets without a mask folder (not an error: a partial mask set).
        masks: masks written.
        gaps: per imported video, how many of its frames had no mask file (left not annotated).
    """

    imported: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    no_folder: list[str] = field(default_factory=list)
    masks: int = 0
    gaps: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def gap_lines(self) -> list[str]:
        """One line per video with frames left without a mask."""
        return [f"{vid}: {n} frame(s) without a mask file, left not annotated" for vid, n in self.gaps.items()]

    def summary(self) -> str:
        gaps = (f"; {sum(self.gaps.values())} frames of {len(self.gaps)} videos have no mask file"
                if self.gaps else "")
        return (f"imported {self.masks} masks into {len(self.imported)} videos; {len(self.failed)} "
                f"failed; {len(self.no_folder)} videos have no mask folder{gaps}")


def unmatched_folders(root: Path, video_ids: set[str]) -> list[Path]:
    """Mask folders under ``root`` (``<comp>/<idx>`` or ``<video_id>``) that match no video id."""
    out = []
    for first in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if first.name in video_ids:
            continue
        subdirs = sorted(p for p in first.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not subdirs:
            out.append(first)
        out += [d for d in subdirs if f"{first.name}__{d.name}" not in video_ids]
    return out


def import_hm(store: MaskStore, masks_root: str | Path, targets: Sequence[VideoTarget], *,
              layer: str = "pseudo", by: str = "FineDiving-HM", overwrite: bool = False,
              report_unmatched: bool = True, workers: int | None = None, strict: bool = False,
              known_ids: Sequence[str] = (), progress: bool = True) -> ImportReport:
    """Import FineDiving-HM mask folders into one layer of the store, one atomic write per video.

    Args:
        store: the mask store.
        masks_root: the folder holding ``<competition>/<idx>/`` mask folders.
        targets: the videos to import (see :func:`target_from_doc`, :func:`target_from_sample`);
            a video already in the store is paired with the store document's frames instead.
        layer: ``pseudo`` (producer ``import-hm``) or ``corrected`` (tool ``import-hm``, ``by`` as
            the author, the status from the store's rule: ``empty`` for an empty mask,
            ``confirmed`` where the mask equals the pseudo mask, else ``edited``).
        overwrite: replace masks already in that layer (otherwise such a video fails).
        report_unmatched: report mask folders that match no target as failures, in one line (turn
            off when importing a chosen subset of videos).
        strict: a frame without a mask file rejects its video (default: left not annotated and
            counted in ``report.gaps``).
        known_ids: videos that exist but are not targets (their target failed and was reported
            already): their folders are not "unmatched".
        workers: processes decoding images (``None`` = up to 2 when there are many videos).

    Returns:
        :class:`ImportReport`; callers exit non-zero when ``not report.ok``.
    """
    from tqdm import tqdm

    if layer not in IMPORT_LAYERS:
        raise ValueError(f"layer must be one of {IMPORT_LAYERS}, got {layer!r}")
    root = Path(masks_root)
    if not root.is_dir():
        raise StoreError(f"{root}: mask root not found")
    root = root.resolve()
    report = ImportReport()
    jobs = []
    for target in targets:
        try:
            folder = hm_folder(root, target.video_id)
            if target.video_id in store:
                target = target_from_doc(store.read(target.video_id))
        except HMError as err:
            report.failed.append(str(err))
            continue
        if not folder.exists() and not folder.is_symlink():
            report.no_folder.append(target.video_id)
            continue
        jobs.append((folder, target, root, strict))
    if report_unmatched:
        ids = {t.video_id for t in targets} | set(known_ids)
        unmatched = unmatched_folders(root, ids)
        if unmatched:
            hint = ("the store has no videos: pass --dataset and --data-root to create them" if not ids
                    else "misnamed, or not in the dataset/store")
            report.failed.append(f"{root}: {len(unmatched)} mask folder(s) match no video to import into "
                                 f"({short_list(d.relative_to(root).as_posix() for d in unmatched)}) -- {hint}")
    n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    n_workers = max(1, min(n_workers, len(jobs) // 4 if workers is None else len(jobs)))
    pool = process_pool(n_workers) if n_workers > 1 else None
    try:
        results = pool.map(_read_job, jobs) if pool else map(_read_job, jobs)
        for (folder, target, _, _), result in tqdm(zip(jobs, results), total=len(jobs), unit="video",
                                                desc="import-hm", disable=not progress):
            if isinstance(result, str):
                report.failed.append(result)
                continue
            rles, resized = result
            try:
                _write_layer(store, target, rles, resized, layer=layer, by=by, overwrite=overwrite,
                             folder=folder, root=root)
            except HMError as err:
                report.failed.append(str(err))
                continue
            report.imported.append(target.video_id)
            report.masks += sum(r is not None for r in rles)
            if any(r is None for r in rles):
                report.gaps[target.video_id] = sum(r is None for r in rles)
    finally:
        if pool:
            pool.shutdown()
    return report


def _new_doc(target: VideoTarget) -> VideoDoc:
    doc = VideoDoc.new(target.video_id, target.size_hw, target.frames, objects=1,
                       **{k: v for k, v in target.meta.items() if k in META_FIELDS})
    if doc.synchronized:
        doc.objects = [TrackedObject(1, "athletes")]
    return doc


def _write_layer(store: MaskStore, target: VideoTarget, rles: list[RLE | None], resized, *, layer: str,
                 by: str, overwrite: bool, folder: Path, root: Path) -> None:
    with store.edit(target.video_id, create=lambda: _new_doc(target)) as doc:
        if tuple(doc.frames) != tuple(target.frames) or tuple(doc.size_hw) != tuple(target.size_hw):
            raise StoreError(f"{store.path(target.video_id)}: document changed while importing {folder}")
        if not overwrite and doc.layer(layer).has_masks():
            raise StoreError(f"{store.path(target.video_id)}: the {layer} layer already holds masks; "
                             "pass --overwrite to replace them")
        doc.clear_layer(layer)
        if layer == "pseudo":
            params = {"masks_root": str(root), "folder": folder.relative_to(root).as_posix(), "threshold": 0.5}
            if resized:
                params["source_size_hw"] = list(resized)
            doc.producer = Producer(backend=TOOL, params=params)
            for i, rle in enumerate(rles):
                if rle is not None:
                    doc.set_pseudo(i, 1, PseudoMask(rle))
            return
        tool = TOOL if not resized else f"{TOOL} (resized from {resized[0]}x{resized[1]})"
        at = utc_now()
        empty = empty_rle(doc.size_hw)
        for i, rle in enumerate(rles):
            if rle is None:
                continue
            for obj_id in doc.object_ids:
                doc.set_correction(i, obj_id, doc.make_correction(
                    i, obj_id, rle if obj_id == 1 else empty, by=by, at=at, tool=tool,
                    pseudo_hash=doc.pseudo_hash(i, obj_id)))


@dataclass
class ExportReport:
    """What :func:`export_hm` wrote: videos, files, and frames without a mask in the layer."""

    videos: int = 0
    files: int = 0
    frames_without_mask: int = 0

    def summary(self) -> str:
        return (f"wrote {self.files} mask files for {self.videos} videos; {self.frames_without_mask} "
                f"frames had no mask in the layer")


def export_hm(store: MaskStore, out: str | Path, *, layer: str = "effective", fmt: str = "jpg",
              video_ids: Sequence[str] | None = None, missing: str = "empty",
              progress: bool = True) -> ExportReport:
    """Write FineDiving-HM folders ``<out>/<competition>/<idx>/<frame stem>.<fmt>``.

    The defaults are what the official FineParser loader reads: it globs ``*.jpg`` only and pairs
    masks with frames by position, so every frame gets a file. ``fmt="png", missing="skip"`` keeps
    the masks lossless and the gaps visible.

    Args:
        layer: ``effective`` (corrected else pseudo, union over athletes), ``pseudo`` or
            ``corrected`` (union of that layer's athletes).
        fmt: ``jpg`` (default, quality 100; the 0.5 threshold on import gives the mask back) or
            ``png`` (lossless).
        missing: a frame without a mask in the layer gets an all-black mask (``empty``, default)
            or no file (``skip``).
    """
    from tqdm import tqdm

    if layer not in EXPORT_LAYERS:
        raise ValueError(f"layer must be one of {EXPORT_LAYERS}, got {layer!r}")
    if missing not in ("skip", "empty"):
        raise ValueError(f"missing must be 'skip' or 'empty', got {missing!r}")
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"fmt must be one of {EXPORT_FORMATS}, got {fmt!r}")
    out = Path(out)
    if out.resolve().is_relative_to(store.root.resolve()):
        raise StoreError(f"{out}: refusing to export into the mask store {store.root}")
    report = ExportReport()
    ids = list(video_ids) if video_ids is not None else store.video_ids()
    with removed_on_error() as created:  # a failed export (a full disk, Ctrl-C) leaves no file or folder of its own
        for doc in tqdm(store.iter_docs(ids), total=len(ids), unit="video", desc="export-hm",
                        disable=not progress):
            folder = make_dirs(hm_folder(out, doc.video_id), created)
            report.videos += 1
            for i, name in enumerate(doc.frames):
                rle = doc.layer_mask(layer, i)
                if rle is None:
                    report.frames_without_mask += 1
                    if missing == "skip":
                        continue
                    rle = empty_rle(doc.size_hw)
                target = folder / f"{Path(name).stem}.{fmt}"
                data = mask_to_hm_image(rle_to_mask(rle), fmt)
                if target.exists():  # an earlier export's file: replaced whole or kept, never truncated
                    atomic_write_bytes(target, data)
                else:
                    created.append(target)
                    target.write_bytes(data)
                report.files += 1
    return report
