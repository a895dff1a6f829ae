"""CVAT round trip: export a task with the current masks as pre-annotations, import the corrections.

Export (:func:`export_cvat_task`) writes a folder, or a ``.zip`` of the same::

    annotations.xml                 "CVAT for images 1.1", one <image> per selected frame
    labels.json                     the labels in CVAT's raw label-constructor form
    images/<video_id>/<frame name>  the frame images (copied from a frame folder, or decoded)

Create a CVAT task from ``images/`` (keep the sub-folders: CVAT names images by their relative
path) with the labels of ``labels.json``, then "Upload annotations" -> "CVAT 1.1" ->
``annotations.xml``. Each object's effective mask (corrected, else pseudo) becomes a ``<mask>``
with the attributes ``athlete_id``, ``pseudo_hash`` (:func:`~hmtools.store.mask_hash` of the
pseudo mask it shows) and ``flag_reasons``; see :mod:`hmtools.formats.cvat_xml` for empty frames.

Import (:func:`import_cvat`) reads CVAT's "CVAT for images 1.1" XML or "COCO 1.0" JSON (a file, an
export folder or the zip CVAT downloads), matches every image by *name* — its last two path parts
are ``<video_id>/<frame name>`` — never by CVAT's frame number, and turns each frame of the task
into corrections, object by object: a mask equal to the current pseudo mask -> ``confirmed``; a
different mask -> ``edited``; no mask (or the frame's ``empty`` tag) -> ``empty``. Several masks
with one ``athlete_id`` in a frame are merged. A correction identical to the one already stored is
left alone (its who/when are kept), so importing the same file twice changes nothing.
``pseudo_hash`` of a correction is the hash the annotator saw (the exported attribute) when given:
if the pseudo layer was regenerated since the export, ``hmtools review --stale`` lists the frame.

Everything is validated for every video before anything is written: unknown videos or frame names,
image sizes that differ from the store, the same frame twice, unknown labels or athlete ids, an
``empty`` tag beside a mask, malformed RLE, and hostile archives are refused (one line each) and
nothing is written. Writes go through :meth:`MaskStore.edit` (atomic, under the video's lock),
re-planned on the freshly read document inside the lock.

Example:
    >>> export_cvat_task("data/store", "task.zip", flagged_only=True, limit=500)   # doctest: +SKIP
    >>> report = import_cvat("data/store", "cvat_export.zip", dry_run=True)         # doctest: +SKIP
    >>> print(format_import_report(report))                                         # doctest: +SKIP
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

from hmtools.atomic import atomic_path
from hmtools.errors import HMError, StoreError
from hmtools.formats.cvat_xml import EMPTY_TAG, CvatFrame, ImageOut, MaskOut
from hmtools.rle import RLE, empty_rle, union
from hmtools.store import Correction, MaskStore, VideoDoc, mask_hash, utc_now

TOOL = "cvat"
_HASH_RE = re.compile(r"^[0-9a-f]{16}$")


class ImportRefused(HMError):
    """An import found problems; ``problems`` lists them one line each. Nothing was written."""

    def __init__(self, source, problems: list[str]):
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"{problems[0]} (import refused; nothing was written)")
        else:
            super().__init__(f"{source}: import refused, {len(problems)} problems (first: {problems[0]}); "
                             "nothing was written")


# -- export ----------------------------------------------------------------------------------

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

    pseudo = doc.pseudo[frame_idx] or {}
    masks = []
    for obj_id, (layer, rle) in sorted(doc.effective_objects(frame_idx).items()):
        if rle.area == 0:
            continue
        pm = pseudo.get(obj_id)
        runs, left, top, width, height = coco_rle_to_cvat(rle)
        masks.append(MaskOut(label, runs, left, top, width, height, {
            "athlete_id": str(obj_id),
            "pseudo_hash": mask_hash(pm.rle) if pm is not None else "",
            "flag_reasons": ", ".join(pm.flag.reasons) if pm is not None else "",
        }, source="auto" if layer == "pseudo" else "manual"))
    return ImageOut(frame_id, f"{doc.video_id}/{doc.frames[frame_idx]}", doc.size_hw, tuple(masks),
                    () if masks else (EMPTY_TAG,))


def export_cvat_task(store_root: str | Path, out: str | Path, *, video_ids: Sequence[str] | None = None,
                     flagged_only: bool = False, limit: int | None = None,
                     frames_root: str | Path | None = None, label: str = "athlete",
                     task_name: str | None = None) -> ExportReport:
    """Write a CVAT task (folder, or ``.zip`` when ``out`` ends so) for the selected frames.

    Args:
        store_root: the mask store.
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
    import cv2
    from tqdm import tqdm

    from hmtools.formats.cvat_xml import cvat_labels_json, images_to_cvat_xml
    from hmtools.frames import FrameReader

    store = MaskStore.open(store_root)
    out = Path(out)
    as_zip = out.suffix.lower() == ".zip"
    if as_zip and out.exists():
        raise StoreError(f"{out}: already exists; choose a new file name")
    if not as_zip and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StoreError(f"{out}: exists and is not an empty folder")
    selection = select_frames(store, video_ids, flagged_only=flagged_only, limit=limit)
    reader = FrameReader(frames_root)
    out.parent.mkdir(parents=True, exist_ok=True)
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
            images, task_name=task_name or out.stem, label=label, dumped=utc_now()))
        (workdir / "labels.json").write_text(json.dumps(cvat_labels_json(label), indent=2) + "\n")
        if as_zip:
            with atomic_path(out) as tmp_zip, zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_DEFLATED) as zf:
                for p in sorted(workdir.rglob("*")):
                    if p.is_file():
                        zf.write(p, p.relative_to(workdir).as_posix())
        else:
            out.mkdir(parents=True, exist_ok=True)
            for p in sorted(workdir.iterdir()):
                os.replace(p, out / p.name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return ExportReport(out, len(selection), len(images), n_masks, n_empty)


def _safe_name(name: str) -> bool:
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


# -- import ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class PlannedCorrection:
    """One correction an import writes (or would write, in a dry run)."""

    video_id: str
    frame_idx: int
    frame_name: str
    object_id: int
    correction: Correction
    previous_status: str | None
    stale: bool  # exported against a pseudo mask that has changed since


@dataclass
class ImportReport:
    """What an import changed (or would change)."""

    source: Path
    dry_run: bool
    n_frames: int
    changes: list = field(default_factory=list)
    unchanged: int = 0

    def by_video(self) -> dict[str, list[PlannedCorrection]]:
        out: dict[str, list[PlannedCorrection]] = {}
        for c in self.changes:
            out.setdefault(c.video_id, []).append(c)
        return out


def load_cvat_frames(source: str | Path) -> tuple[list[CvatFrame], str]:
    """Read a CVAT export: ``.xml``, COCO ``.json``, an export folder, or a zip of either.

    Returns:
        the frames and a label for messages (the file, or ``zip:member``).

    Raises:
        ArchiveError: a hostile or unreadable zip; CvatFormatError / RLEError: a malformed export.
    """
    from hmtools.archive import member_names, read_member
    from hmtools.formats.cvat_coco import cvat_coco_to_frames
    from hmtools.formats.cvat_xml import CvatFormatError, cvat_xml_to_frames

    source = Path(source)
    if source.is_dir():
        candidates = [source / "annotations.xml"] + sorted((source / "annotations").glob("instances_*.json"))
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise CvatFormatError(f"{source}: no annotations.xml or annotations/instances_*.json inside")
        source = found[0]
    if not source.is_file():
        raise CvatFormatError(f"{source}: no such file")
    suffix = source.suffix.lower()
    if suffix == ".zip":
        names = member_names(source)
        xml = [n for n in names if n == "annotations.xml"]
        coco = sorted(n for n in names if re.fullmatch(r"annotations/instances_[^/]*\.json", n))
        if not xml and not coco:
            raise CvatFormatError(f"{source}: zip holds neither annotations.xml nor annotations/instances_*.json")
        member = xml[0] if xml else coco[0]
        data, where = read_member(source, member), f"{source}:{member}"
        suffix = ".xml" if xml else ".json"
    else:
        data, where = source.read_bytes(), str(source)
    if suffix == ".xml":
        return cvat_xml_to_frames(data, where=where), where
    if suffix == ".json":
        return cvat_coco_to_frames(data, where=where), where
    raise CvatFormatError(f"{source}: expected .xml, .json, .zip or an export folder")


def split_image_name(name: str) -> tuple[str, str] | None:
    """``"images/01__10/00489.jpg"`` -> ``("01__10", "00489.jpg")``; ``None`` without a folder part."""
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return (parts[-2], parts[-1]) if len(parts) >= 2 else None


def plan_frame(doc: VideoDoc, frame_idx: int, cf: CvatFrame, *, label: str, by: str, at: str,
               where: str) -> tuple[list[PlannedCorrection], int, list[str]]:
    """Corrections implied by one CVAT frame; returns ``(changes, n_unchanged, problems)``."""
    here = f"{where}: image {cf.name!r}"
    problems = []
    if tuple(cf.size_hw) != tuple(doc.size_hw):
        return [], 0, [f"{here}: size {cf.size_hw[1]}x{cf.size_hw[0]} but video {doc.video_id} is "
                       f"{doc.size_hw[1]}x{doc.size_hw[0]} (WxH)"]
    per_object: dict[int, list[RLE]] = {}
    seen_hash: dict[int, str] = {}
    for shape in cf.shapes:
        if shape.label != label:
            problems.append(f"{here}: mask label {shape.label!r} is not {label!r} (pass --label)")
            continue
        raw_id = shape.attributes.get("athlete_id", "")
        if raw_id == "" and len(doc.object_ids) == 1:
            obj_id = doc.object_ids[0]
        elif raw_id.isdigit() and int(raw_id) in doc.object_ids:
            obj_id = int(raw_id)
        else:
            problems.append(f"{here}: athlete_id {raw_id!r} is not one of video {doc.video_id}'s "
                            f"athletes {doc.object_ids}")
            continue
        h = shape.attributes.get("pseudo_hash", "")
        if h and not _HASH_RE.match(h):
            problems.append(f"{here}: pseudo_hash {h[:40]!r} is not a 16-digit hex hash")
            continue
        if h:
            seen_hash[obj_id] = h
        per_object.setdefault(obj_id, []).append(shape.rle)
    if EMPTY_TAG in cf.tags and any(r.area for rles in per_object.values() for r in rles):
        problems.append(f"{here}: has both an '{EMPTY_TAG}' tag and a mask; delete one of them in CVAT")
    if problems:
        return [], 0, problems
    changes, unchanged = [], 0
    pseudo = doc.pseudo[frame_idx] or {}
    existing = doc.corrected[frame_idx] or {}
    for obj_id in doc.object_ids:
        pm = pseudo.get(obj_id)
        now_hash = mask_hash(pm.rle) if pm is not None else None
        rle = union(per_object[obj_id]) if obj_id in per_object else empty_rle(doc.size_hw)
        if rle.area == 0:
            status, rle = "empty", empty_rle(doc.size_hw)
        elif pm is not None and pm.rle.counts == rle.counts:
            status = "confirmed"
        else:
            status = "edited"
        old = existing.get(obj_id)
        if old is not None and old.status == status and old.rle.counts == rle.counts:
            unchanged += 1
            continue
        base_hash = seen_hash.get(obj_id, now_hash)
        corr = Correction(rle, status=status, by=by, at=at, tool=TOOL, pseudo_hash=base_hash)
        changes.append(PlannedCorrection(doc.video_id, frame_idx, doc.frames[frame_idx], obj_id, corr,
                                         old.status if old is not None else None, base_hash != now_hash))
    return changes, unchanged, []


def plan_video(doc: VideoDoc, frames: Sequence[tuple[str, CvatFrame]], *, label: str, by: str, at: str,
               where: str) -> tuple[list[PlannedCorrection], int, list[str]]:
    """Corrections for one video from its ``(frame name, CVAT frame)`` pairs."""
    changes, unchanged, problems = [], 0, []
    for frame_name, cf in frames:
        if frame_name not in doc.frames:
            problems.append(f"{where}: image {cf.name!r}: video {doc.video_id} has no frame {frame_name!r}")
            continue
        c, u, p = plan_frame(doc, doc.frame_index(frame_name), cf, label=label, by=by, at=at, where=where)
        changes += c
        unchanged += u
        problems += p
    return changes, unchanged, problems


def default_annotator() -> str:
    """``$USER`` (or the login name), ``"unknown"`` when neither is known."""
    try:
        return os.environ.get("USER") or getpass.getuser() or "unknown"
    except (KeyError, OSError):
        return "unknown"


def import_cvat(store_root: str | Path, source: str | Path, *, annotator: str | None = None,
                dry_run: bool = False, label: str = "athlete") -> ImportReport:
    """Import a CVAT export into the corrected layer (see the module doc for the rules).

    Args:
        store_root: the mask store.
        source: ``annotations.xml``, ``instances_default.json``, an export folder or its zip.
        annotator: recorded as ``by`` (default ``$USER``).
        dry_run: plan and report, write nothing.
        label: the CVAT label of the athlete masks.

    Raises:
        ImportRefused: listing every problem found; nothing was written.
    """
    store = MaskStore.open(store_root)
    frames, where = load_cvat_frames(source)
    by, at = annotator or default_annotator(), utc_now()
    problems: list[str] = []
    grouped: dict[str, list[tuple[str, CvatFrame]]] = {}
    seen: dict[tuple[str, str], str] = {}
    known = set(store.video_ids())
    for cf in frames:
        key = split_image_name(cf.name)
        if key is None:
            problems.append(f"{where}: image {cf.name!r}: cannot tell its video (expected <video_id>/<frame name>)")
            continue
        if key in seen:
            problems.append(f"{where}: image {cf.name!r}: frame {key[0]}/{key[1]} appears twice "
                            f"(also as {seen[key]!r})")
            continue
        seen[key] = cf.name
        if key[0] not in known:
            problems.append(f"{where}: image {cf.name!r}: unknown video {key[0]!r} (not in store {store.root})")
            continue
        grouped.setdefault(key[0], []).append((key[1], cf))
    report = ImportReport(Path(source), dry_run, len(frames))
    for vid, items in grouped.items():
        changes, unchanged, p = plan_video(store.read(vid), items, label=label, by=by, at=at, where=where)
        report.changes += changes
        report.unchanged += unchanged
        problems += p
    if problems:
        raise ImportRefused(where, problems)
    if dry_run:
        return report
    for vid, items in grouped.items():
        if not any(c.video_id == vid for c in report.changes):
            continue
        with store.edit(vid) as doc:
            # Re-plan on the document as it is now, under its lock (another tool may have saved since).
            changes, _, p = plan_video(doc, items, label=label, by=by, at=at, where=where)
            if p:
                raise StoreError(f"{where}: video {vid} changed during the import: {p[0]}")
            for c in changes:
                doc.set_correction(c.frame_idx, c.object_id, c.correction)
    return report


def format_import_report(report: ImportReport, max_frames: int = 12) -> str:
    """Per video: how many frames change, and which, by status (``edited: 00489.jpg#1, ...``)."""
    verb = "would change" if report.dry_run else "changed"
    lines = []
    for vid, changes in report.by_video().items():
        parts = []
        for status in ("edited", "empty", "confirmed"):
            names = [f"{c.frame_name}#{c.object_id}" for c in changes if c.correction.status == status]
            if names:
                more = f" ... {len(names) - max_frames} more" if len(names) > max_frames else ""
                parts.append(f"{status} {len(names)}: {', '.join(names[:max_frames])}{more}")
        n_frames = len({c.frame_idx for c in changes})
        lines.append(f"{vid}: {n_frames} frame(s) {verb}; " + "; ".join(parts))
    counts = {s: sum(c.correction.status == s for c in report.changes) for s in ("edited", "confirmed", "empty")}
    stale = sum(c.stale for c in report.changes)
    lines.append(f"{report.n_frames} frame(s) read; corrections {verb}: {counts['edited']} edited, "
                 f"{counts['confirmed']} confirmed, {counts['empty']} empty; {report.unchanged} already up to date"
                 + (f"; {stale} made against an older pseudo mask (see `hmtools review --stale`)" if stale else "")
                 + ("; dry run: nothing written" if report.dry_run else ""))
    return "\n".join(lines)
