"""CVAT round trip, first half: export a task with the current masks as pre-annotations.

Export (:func:`export_cvat_task`) writes a folder, or a ``.zip`` of the same::

    annotations.xml                 "CVAT for images 1.1", one <image> per selected frame
    labels.json                     the labels in CVAT's raw label-constructor form
    images/<video_id>/<frame name>  the frame images (copied from a frame folder, or decoded)

Create a CVAT task from ``images/`` (keep the sub-folders: CVAT names images by their relative
path) with the labels of ``labels.json``, then "Upload annotations" -> "CVAT 1.1" ->
``annotations.xml``. Each object's effective mask (corrected, else pseudo) becomes a ``<mask>``
with the attributes ``athlete_id``, ``pseudo_hash`` (:func:`~hmtools.store.mask_hash` of the
pseudo mask it shows) and ``flag_reasons``; see :mod:`hmtools.formats.cvat_xml` for empty frames. The corrections come back through
:mod:`hmtools.workflows.cvat_import`.

Example:
    >>> export_cvat_task(MaskStore.open("data/store"), "task.zip", flagged_only=True, limit=500)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hmtools.atomic import NEW_FOLDER_MODE, atomic_path, make_dirs, removed_on_error
from hmtools.errors import StoreError
from hmtools.formats.cvat_xml import EMPTY_TAG, ImageOut, MaskOut
from hmtools.store import MaskStore, VideoDoc, utc_now


@dataclass
class ExportReport:
    """What :func:`export_cvat_task` wrote."""

    out: Path
    n_videos: int
    n_frames: int
    n_masks: int
    n_empty_frames: int


def select_frames(store: MaskStore, video_ids: Sequence[str] | None = None, *, flagged_only: bool = False,
                  limit: int | None = None) -> dict[str, list[int]]:
    """Frames to export per video: all frames, or the review queue's (worst ``limit`` first)."""
    from hmtools.review import review_queue

    ids = list(video_ids) if video_ids else store.video_ids()
    for vid in ids:
        if vid not in store:
            raise StoreError(f"{store.root}: no video {vid!r} in the store")
    if flagged_only:
        chosen: dict[str, list[int]] = {}
        for it in review_queue(store, ids, limit=limit):
            chosen.setdefault(it.video_id, []).append(it.frame_idx)
        return {vid: sorted(idx) for vid, idx in sorted(chosen.items())}
    out, budget = {}, limit
    for vid in ids:
        n = store.read(vid).n_frames
        take = n if budget is None else min(n, budget)
        if take:
            out[vid] = list(range(take))
        if budget is not None:
            budget -= take
            if budget <= 0:
                break
    return out


def frame_image_out(doc: VideoDoc, frame_idx: int, frame_id: int, label: str) -> ImageOut:
    """The XML record of one frame: effective mask per object with its attributes."""
    from hmtools.formats.cvat_rle import coco_rle_to_cvat

    masks = []
    for obj_id, (layer, rle) in sorted(doc.effective_objects(frame_idx).items()):
        if rle.area == 0:
            continue
        pm = doc.pseudo_mask(frame_idx, obj_id)
        runs, left, top, width, height = coco_rle_to_cvat(rle)
        masks.append(MaskOut(label, runs, left, top, width, height, {
            "athlete_id": str(obj_id),
            "pseudo_hash": doc.pseudo_hash(frame_idx, obj_id) or "",
            "flag_reasons": ", ".join(pm.flag.reasons) if pm is not None else "",
        }, source="auto" if layer == "pseudo" else "manual"))
    return ImageOut(frame_id, f"{doc.video_id}/{doc.frames[frame_idx]}", doc.size_hw, tuple(masks),
                    () if masks else (EMPTY_TAG,))


def export_cvat_task(store: MaskStore, out: str | Path, *, video_ids: Sequence[str] | None = None,
                     flagged_only: bool = False, limit: int | None = None,
                     frames_root: str | Path | None = None, label: str = "athlete",
                     task_name: str | None = None) -> ExportReport:
    """Write a CVAT task (folder, or ``.zip`` when ``out`` ends so) for the selected frames.

    Args:
        store: the mask store.
        out: a new/empty folder, or a ``.zip`` path (written atomically).
        video_ids: videos to export (default: all).
        flagged_only: only the review queue's frames (flagged, not yet corrected).
        limit: at most this many frames (the worst first with ``flagged_only``).
        frames_root: where the frame images are, when ``doc.source`` does not say (see
            :class:`hmtools.frames.FrameReader`).
        label: the CVAT label of the athlete masks.

    Raises:
        StoreError / VideoError: unknown videos, missing frames, an occupied output folder.
    """
    from hmtools.frames import FrameReader

    out = Path(out)
    as_zip = out.suffix.lower() == ".zip"
    if as_zip and out.exists():
        raise StoreError(f"{out}: already exists; choose a new file name")
    if not as_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StoreError(f"{out}: exists and is not an empty folder")
    selection = select_frames(store, video_ids, flagged_only=flagged_only, limit=limit)
    reader = FrameReader(frames_root)
    with removed_on_error() as created:  # a failed export (a full disk, Ctrl-C) leaves no folder it made
        make_dirs(out.parent, created)
        return _write_task(store, out, selection, reader, label, task_name or out.stem)


def _write_task(store: MaskStore, out: Path, selection: dict[str, list[int]], reader, label: str,
                task_name: str) -> ExportReport:
    """The task is assembled in a folder beside ``out``, then zipped to ``out`` or renamed to it
    (over an empty folder): either way it appears whole or not at all."""
    import cv2
    from tqdm import tqdm

    from hmtools.formats.cvat_xml import cvat_labels_json, images_to_cvat_xml

    as_zip = out.suffix.lower() == ".zip"
    mode = out.stat().st_mode & 0o7777 if out.is_dir() else NEW_FOLDER_MODE
    workdir = Path(tempfile.mkdtemp(prefix=".cvat-export-", dir=out.parent))
    try:
        pending: list[tuple[str, ImageOut]] = []
        n_masks = n_empty = 0
        total = sum(len(v) for v in selection.values())
        with tqdm(total=total, desc="export-cvat", unit="frame", disable=total < 200) as bar:
            for vid, indices in selection.items():
                doc = store.read(vid)
                for i in indices:
                    if not _safe_name(doc.frames[i]):
                        raise StoreError(f"video {vid}: frame name {doc.frames[i]!r} is not a plain file name")
                    rel = f"images/{vid}/{doc.frames[i]}"
                    dst = workdir / rel
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    src = reader.frame_file(doc, i)
                    if src is not None:
                        shutil.copyfile(src, dst)
                    else:
                        rgb = reader.read_rgb(doc, i)
                        ok, buf = cv2.imencode(Path(doc.frames[i]).suffix or ".jpg",
                                               cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                        if not ok:
                            raise StoreError(f"video {vid}: cannot encode frame {doc.frames[i]}")
                        dst.write_bytes(buf.tobytes())
                    im = frame_image_out(doc, i, 0, label)
                    n_masks += len(im.masks)
                    n_empty += not im.masks
                    pending.append((im.name, im))
                    bar.update(1)
        reader.close()
        # CVAT numbers frames in name order: give our ids the same order.
        pending.sort(key=lambda t: t[0])
        images = [ImageOut(k, im.name, im.size_hw, im.masks, im.tags) for k, (_, im) in enumerate(pending)]
        (workdir / "annotations.xml").write_bytes(images_to_cvat_xml(
            images, task_name=task_name, label=label, dumped=utc_now()))
        (workdir / "labels.json").write_text(json.dumps(cvat_labels_json(label), indent=2) + "\n")
        if as_zip:
            with atomic_path(out) as tmp_zip, zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(workdir.rglob("*")):
                    if p.is_file():
                        zf.write(p, p.relative_to(workdir).as_posix())
        else:
            os.chmod(workdir, mode)
            os.replace(workdir, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ExportReport(out, len(selection), len(images), n_masks, n_empty)


def _safe_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")
