"""CVAT round trip, second half: import the corrections of a CVAT export into the corrected layer.

Import (:func:`import_cvat`) reads CVAT's "CVAT for images 1.1" XML or "COCO 1.0" JSON (a file, an
export folder or the zip CVAT downloads), matches every image by *name* — its last two path parts
are ``<video_id>/<frame name>`` — never by CVAT's frame number, and turns each frame of the task
into corrections, object by object, with the store's one status rule
(:meth:`~hmtools.store.VideoDoc.make_correction`): a mask equal to the current pseudo mask ->
``confirmed``; a different mask -> ``edited``; no mask (or the frame's ``empty`` tag) -> ``empty``.
Several masks with one ``athlete_id`` in a frame are merged. A correction identical to the one already stored is
left alone (its who/when are kept), so importing the same file twice changes nothing.
``pseudo_hash`` of a correction is the hash the annotator saw (the exported attribute) when given:
if the pseudo layer was regenerated since the export, ``hmtools review --stale`` lists the frame.

Everything is validated for every video before anything is written: unknown videos or frame names,
image sizes that differ from the store, the same frame twice, unknown labels or athlete ids, an
``empty`` tag beside a mask, malformed RLE, and hostile archives are refused (one line each) and
nothing is written. Writes go through :meth:`MaskStore.edit` (atomic, under the video's lock),
re-planned on the freshly read document inside the lock.

Example:
    >>> report = import_cvat(MaskStore.open("data/store"), "cvat_export.zip", dry_run=True)  # doctest: +SKIP
    >>> print(format_import_report(report))                                                  # doctest: +SKIP
"""

from __future__ import annotations

import getpass
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Sequence

from hmtools.errors import HMError, StoreError
from hmtools.formats.cvat_xml import EMPTY_TAG, CvatFrame
from hmtools.rle import RLE, empty_rle, union
from hmtools.store import Correction, MaskStore, VideoDoc, utc_now

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
    for obj_id in doc.object_ids:
        rle = union(per_object[obj_id]) if obj_id in per_object else empty_rle(doc.size_hw)
        corr = doc.make_correction(frame_idx, obj_id, rle, by=by, at=at, tool=TOOL,
                                   pseudo_hash=seen_hash.get(obj_id, doc.pseudo_hash(frame_idx, obj_id)))
        old = doc.correction(frame_idx, obj_id)
        if old is not None and old.status == corr.status and old.rle.counts == corr.rle.counts:
            unchanged += 1
            continue
        changes.append(PlannedCorrection(doc.video_id, frame_idx, doc.frames[frame_idx], obj_id, corr,
                                         old.status if old is not None else None,
                                         doc.is_stale(frame_idx, obj_id, corr)))
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


def import_cvat(store: MaskStore, source: str | Path, *, annotator: str | None = None,
                dry_run: bool = False, label: str = "athlete") -> ImportReport:
    """Import a CVAT export into the corrected layer (see the module doc for the rules).

    Args:
        store: the mask store.
        source: ``annotations.xml``, ``instances_default.json``, an export folder or its zip.
        annotator: recorded as ``by`` (default ``$USER``).
        dry_run: plan and report, write nothing.
        label: the CVAT label of the athlete masks.

    Raises:
        ImportRefused: listing every problem found; nothing was written.
    """
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
