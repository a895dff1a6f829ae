"""The correction editor's request logic, without HTTP (the server is :mod:`hmtools.web.server`).

:class:`EditorApp` answers the page's requests: the review queue, one frame's masks as row-major
runs, the frame image, saves, SAM re-prompting and "propagate from this frame" (the video's pseudo
masks re-propagated from one corrected frame to its neighbouring anchors with
:func:`~hmtools.workflows.propagate.propagate_one`; corrections are never rewritten). A save names the correction it started from
(``base_corrected``) and the pseudo mask the annotator saw (``base_pseudo_hash``); see the server
module for the conflict rules. Every correction's status comes from
:meth:`~hmtools.store.VideoDoc.make_correction` (``accept`` of an empty pseudo mask is ``empty``,
a drawn mask equal to the pseudo mask is ``confirmed``).

Example:
    >>> app = EditorApp(MaskStore.open("data/store"), annotator="ana")   # doctest: +SKIP
    >>> app.frame("01__10", 0)["objects"][0]["pseudo"]["hash"]           # doctest: +SKIP
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from hmtools.errors import HMError, StoreError
from hmtools.formats.cvat_rle import box_mask_to_runs, runs_to_box_mask
from hmtools.rle import RLE, empty_rle, mask_to_rle, rle_to_mask
from hmtools.store import Correction, MaskStore, VideoDoc, mask_hash, utc_now

if TYPE_CHECKING:  # pragma: no cover
    from http.server import ThreadingHTTPServer

TOOL = "web-editor"


class HTTPError(Exception):
    """An error answered to the page as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def correction_key(corr: Correction | None) -> str | None:
    """``"<status>:<mask hash>"`` of a stored correction (what a save must start from), ``None`` if none."""
    return None if corr is None else f"{corr.status}:{mask_hash(corr.rle)}"


def rle_to_runs(rle: RLE) -> list[int]:
    """Row-major runs over the whole image, background first (the page's mask form)."""
    return box_mask_to_runs(rle_to_mask(rle))


def runs_to_rle(runs, size_hw: tuple[int, int], where: str) -> RLE:
    """Validate the page's runs (ints >= 0 summing to H*W) and encode them as COCO RLE."""
    h, w = size_hw
    if not isinstance(runs, list) or not runs or len(runs) > h * w + 1:
        raise HTTPError(400, f"{where}: runs must be a non-empty list of at most H*W+1 integers")
    if not all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r <= h * w for r in runs):
        raise HTTPError(400, f"{where}: runs must be integers in 0..H*W")
    if sum(runs) != h * w:
        raise HTTPError(400, f"{where}: runs sum to {sum(runs)}, expected H*W = {h * w}")
    return mask_to_rle(runs_to_box_mask(runs, h, w))


class EditorApp:
    """State and request logic of the editor (no HTTP here, so it is testable directly).

    Args:
        store: the mask store.
        annotator: recorded as the corrections' ``by``.
        frames_root: where frames are when ``doc.source`` does not say (see :class:`FrameReader`).
        video_ids: restrict the queue to these videos.
        include_unflagged: queue every frame with a pseudo mask, not only flagged ones.
        sam: a :class:`~hmtools.web.sam.SamPrompter`, or ``None`` (the SAM tools are hidden).
        token: the access token (random by default).
        propagate_settings: the :class:`~hmtools.pseudo.settings.PseudoMaskSettings` of "propagate
            from this frame" (default: the library's, the offline tracker and segmenter, as
            ``hmtools propagate``); its backends are built on the first propagation.
        backends: ready :class:`~hmtools.pseudo.backends.Backends` instead (tests, tiny models).
    """

    def __init__(self, store: MaskStore, *, annotator: str, frames_root: str | Path | None = None,
                 video_ids: Sequence[str] | None = None, include_unflagged: bool = False, sam=None,
                 token: str | None = None, propagate_settings=None, backends=None):
        from hmtools.frames import FrameReader

        self.store = store
        self.annotator = annotator
        self.reader = FrameReader(frames_root)
        self.video_ids = list(video_ids) if video_ids else None
        self.include_unflagged = include_unflagged
        self.sam = sam
        self.token = token or secrets.token_urlsafe(24)
        self._queue_lock = threading.Lock()
        self._queue: list | None = None
        self.propagate_settings = propagate_settings
        self._backends = backends
        self._propagate_lock = threading.Lock()  # one run at a time: the backends hold tracker state

    def url(self, server: ThreadingHTTPServer) -> str:
        host, port = server.server_address[:2]
        return f"http://{host}:{port}/?token={self.token}"

    # -- reads ------------------------------------------------------------------------------
    def queue(self, refresh: bool = False) -> dict:
        from hmtools.review import review_queue

        with self._queue_lock:
            if self._queue is None or refresh:
                self._queue = review_queue(self.store, self.video_ids, include_unflagged=self.include_unflagged)
            items = [{"video_id": it.video_id, "frame_idx": it.frame_idx, "frame": it.frame_name,
                      "action_type": it.action_type, "priority": round(it.priority, 3),
                      "reasons": it.reasons_text} for it in self._queue]
        return {"items": items, "annotator": self.annotator, "sam": self.sam is not None}

    def _doc(self, video_id: str, frame_idx: int) -> VideoDoc:
        try:
            doc = self.store.read(video_id)
        except HMError as err:
            raise HTTPError(404, str(err)) from None
        if not 0 <= frame_idx < doc.n_frames:
            raise HTTPError(404, f"video {video_id}: frame index {frame_idx} outside 0..{doc.n_frames - 1}")
        return doc

    def frame(self, video_id: str, frame_idx: int) -> dict:
        doc = self._doc(video_id, frame_idx)
        objects = []
        for obj_id in doc.object_ids:
            pm, corr = doc.pseudo_mask(frame_idx, obj_id), doc.correction(frame_idx, obj_id)
            objects.append({
                "id": obj_id,
                "pseudo": None if pm is None else {"runs": rle_to_runs(pm.rle), "hash": mask_hash(pm.rle),
                                                   "reasons": list(pm.flag.reasons)},
                "corrected": None if corr is None else {"runs": rle_to_runs(corr.rle), "status": corr.status,
                                                        "by": corr.by, "at": corr.at, "tool": corr.tool},
                "base_corrected": correction_key(corr),
            })
        return {"video_id": doc.video_id, "frame_idx": frame_idx, "frame": doc.frames[frame_idx],
                "n_frames": doc.n_frames, "size_hw": list(doc.size_hw), "action_type": doc.action_type,
                "objects": objects}

    def image_jpeg(self, video_id: str, frame_idx: int) -> bytes:
        import cv2

        doc = self._doc(video_id, frame_idx)
        try:
            rgb = self.reader.read_rgb(doc, frame_idx)
        except HMError as err:
            raise HTTPError(404, str(err)) from None
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise HTTPError(500, f"video {video_id}: cannot encode frame {frame_idx} as JPEG")
        return buf.tobytes()

    # -- writes -----------------------------------------------------------------------------
    def save(self, payload: dict) -> dict:
        """Write the corrections of one frame (see the module doc); returns what was saved."""
        video_id, frame_idx = _str(payload, "video_id"), _int(payload, "frame_idx")
        items = payload.get("objects")
        if not isinstance(items, list) or not items:
            raise HTTPError(400, "objects must be a non-empty list")
        force = bool(payload.get("force", False))
        self._doc(video_id, frame_idx)  # 404 before taking the lock
        saved, stale = [], []
        try:
            with self.store.edit(video_id) as doc:
                for item in items:
                    obj_id, corr, is_stale = self._plan(doc, frame_idx, item, force)
                    doc.set_correction(frame_idx, obj_id, corr)
                    saved.append({"object_id": obj_id, "status": corr.status,
                                  "base_corrected": correction_key(corr)})
                    if is_stale:
                        stale.append(obj_id)
        except StoreError as err:
            raise HTTPError(400, str(err)) from None
        with self._queue_lock:
            done = {(video_id, frame_idx)}
            if self._queue is not None:
                self._queue = [it for it in self._queue if (it.video_id, it.frame_idx) not in done]
        return {"saved": saved, "stale_objects": stale}

    def _plan(self, doc: VideoDoc, frame_idx: int, item: dict, force: bool) -> tuple[int, Correction, bool]:
        if not isinstance(item, dict):
            raise HTTPError(400, "each object must be a JSON object")
        obj_id = _int(item, "object_id")
        if obj_id not in doc.object_ids:
            raise HTTPError(400, f"video {doc.video_id}: unknown object {obj_id} (known: {doc.object_ids})")
        where = f"video {doc.video_id}, frame {doc.frames[frame_idx]}, object {obj_id}"
        current = doc.correction(frame_idx, obj_id)
        if not force and correction_key(current) != item.get("base_corrected"):
            raise HTTPError(409, f"{where}: saved elsewhere since you opened it "
                                 f"({current.status if current else 'removed'} by "
                                 f"{current.by if current else '?'}); reload or overwrite",
                            conflict=True, object_id=obj_id)
        base_hash = item.get("base_pseudo_hash", doc.pseudo_hash(frame_idx, obj_id))
        if base_hash is not None and not isinstance(base_hash, str):
            raise HTTPError(400, f"{where}: base_pseudo_hash must be a string or null")
        action = item.get("action")
        if action == "accept":
            pm = doc.pseudo_mask(frame_idx, obj_id)
            if pm is None:
                raise HTTPError(400, f"{where}: no pseudo mask to accept")
            rle = pm.rle
        elif action == "empty":
            rle = empty_rle(doc.size_hw)
        elif action == "mask":
            rle = runs_to_rle(item.get("runs"), doc.size_hw, where)
        else:
            raise HTTPError(400, f"{where}: action must be mask, accept or empty, got {action!r}")
        # The status (empty / confirmed / edited) is the document's one rule, whatever the action.
        corr = doc.make_correction(frame_idx, obj_id, rle, by=self.annotator, at=utc_now(), tool=TOOL,
                                   pseudo_hash=base_hash)
        stale = doc.is_stale(frame_idx, obj_id, corr)
        if action == "accept" and stale:
            raise HTTPError(409, f"{where}: the pseudo mask changed since you opened the frame; reload",
                            conflict=True, object_id=obj_id)
        return obj_id, corr, stale

    def propagate(self, payload: dict) -> dict:
        """Re-propagate ``video_id``'s pseudo masks from the correction(s) on ``frame_idx``.

        Returns ``{"rewritten": n, "status": ...}`` (pseudo masks written); any failure is a 400
        with a one-line message, and nothing is written.

        Example:
            >>> app.propagate({"video_id": "01__10", "frame_idx": 12})   # doctest: +SKIP
            {'video_id': '01__10', 'frame_idx': 12, 'status': 'done', 'rewritten': 7}
        """
        from hmtools.pseudo.report import one_line_error
        from hmtools.workflows.propagate import propagate_one

        video_id, frame_idx = _str(payload, "video_id"), _int(payload, "frame_idx")
        doc = self._doc(video_id, frame_idx)
        with self._propagate_lock:
            try:
                outcome = propagate_one(self.store, video_id, self._propagate_backends(),
                                        frames_root=self.reader.frames_root, only_from=frame_idx)
            except Exception as err:  # the page shows one line; propagate_one wrote nothing
                raise HTTPError(400, f"propagate from {video_id} {doc.frames[frame_idx]}: "
                                     f"{one_line_error(err)}") from None
        with self._queue_lock:
            self._queue = None  # the flags of the rewritten frames changed
        return {"video_id": video_id, "frame_idx": frame_idx, "status": outcome.status,
                "rewritten": outcome.masks}

    def _propagate_backends(self):
        if self._backends is None:
            from dataclasses import replace

            from hmtools.pseudo.backends import Backends
            from hmtools.pseudo.inputs import resolve_device
            from hmtools.pseudo.settings import PseudoMaskSettings

            settings = self.propagate_settings or PseudoMaskSettings()
            self._backends = Backends(replace(settings, device=resolve_device(settings.device)))
        return self._backends

    def sam_predict(self, payload: dict) -> dict:
        if self.sam is None:
            raise HTTPError(400, "SAM is not configured: start `hmtools correct` with --sam-checkpoint")
        video_id, frame_idx = _str(payload, "video_id"), _int(payload, "frame_idx")
        doc = self._doc(video_id, frame_idx)
        h, w = doc.size_hw
        box = payload.get("box_xyxy")
        points = payload.get("points") or None
        if box is not None and not (isinstance(box, list) and len(box) == 4 and all(_num(v) for v in box)):
            raise HTTPError(400, "box_xyxy must be 4 numbers")
        if points is not None and not (isinstance(points, list) and len(points) <= 64 and all(
                isinstance(p, list) and len(p) == 3 and all(_num(v) for v in p) and p[2] in (0, 1)
                for p in points)):
            raise HTTPError(400, "points must be at most 64 [x, y, 1|0] triples")
        if box is None and not points:
            raise HTTPError(400, "SAM needs box_xyxy or points")
        try:
            mask = self.sam.predict((video_id, frame_idx), lambda: self.reader.read_rgb(doc, frame_idx),
                                    box_xyxy=box, points_xyl=points)
        except HMError as err:
            raise HTTPError(400, str(err)) from None
        if mask.shape != (h, w):
            raise HTTPError(500, f"SAM returned a {mask.shape} mask for a {h}x{w} frame")
        return {"runs": box_mask_to_runs(mask), "area": int(mask.sum())}


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _str(payload: dict, key: str) -> str:
    v = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(v, str) or not v:
        raise HTTPError(400, f"{key} must be a non-empty string")
    return v


def _int(payload: dict, key: str) -> int:
    v = payload.get(key) if isinstance(payload, dict) else None
    if not isinstance(v, int) or isinstance(v, bool):
        raise HTTPError(400, f"{key} must be an integer")
    return v
