"""The local correction editor: a stdlib HTTP server on 127.0.0.1 and one static page.

Security: the server binds 127.0.0.1 only (other hosts are refused), every request must carry the
random token printed in the URL (``?token=`` or the ``X-HM-Token`` header; 403 otherwise), and the
``Host`` header must name the loopback address (a web page elsewhere cannot reach it through DNS
rebinding). Request bodies are capped.

Endpoints (JSON unless said otherwise):

* ``GET /`` -> the editor page (``editor.html``);
* ``GET /api/queue`` -> the review queue (``?refresh=1`` re-reads the store);
* ``GET /api/frame/<video_id>/<frame_idx>`` -> size, objects, per object the pseudo and corrected
  masks as row-major runs (background first, over the whole image), their hashes and statuses;
* ``GET /api/image/<video_id>/<frame_idx>`` -> the frame as JPEG;
* ``POST /api/save`` ``{video_id, frame_idx, objects: [{object_id, action: mask|accept|empty,
  runs?, base_pseudo_hash, base_corrected}], force?}`` -> writes corrections under the video's lock;
* ``POST /api/sam`` ``{video_id, frame_idx, box_xyxy?, points?: [[x, y, 1|0]]}`` -> ``{runs}``; 400
  when no SAM checkpoint is configured.

Saves never lose work silently. Each object's save names the correction it started from
(``base_corrected``: ``"<status>:<mask hash>"`` or ``null``); if another tab or tool saved that
object of that frame since, the save is refused with 409 and the page asks before overwriting.
Saves to different frames (or objects) of one video from two tabs both land: each is a
read-modify-write of the document under the video's lock. ``pseudo_hash`` of a correction is the
hash of the pseudo mask the annotator saw; when the pseudo layer was regenerated meanwhile, a drawn
mask is still saved (and listed by ``hmtools review --stale``), an "accept" is refused (409).

Example:
    >>> app = EditorApp("data/store", annotator="ana")        # doctest: +SKIP
    >>> server = make_server(app)                             # doctest: +SKIP
    >>> print(app.url(server)); server.serve_forever()        # doctest: +SKIP
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Sequence
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from hmtools.errors import HMError, StoreError
from hmtools.formats.cvat_rle import box_mask_to_runs, runs_to_box_mask
from hmtools.rle import RLE, empty_rle, mask_to_rle, rle_to_mask
from hmtools.store import Correction, MaskStore, VideoDoc, mask_hash, utc_now

TOOL = "web-editor"
MAX_BODY_BYTES = 32 * 1024 ** 2
ALLOWED_HOSTS = ("127.0.0.1", "localhost")
EDITOR_HTML = Path(__file__).with_name("editor.html")


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
        store_root: the mask store.
        annotator: recorded as the corrections' ``by``.
        frames_root: where frames are when ``doc.source`` does not say (see :class:`FrameReader`).
        video_ids: restrict the queue to these videos.
        include_unflagged: queue every frame with a pseudo mask, not only flagged ones.
        sam: a :class:`~hmtools.web.sam.SamPrompter`, or ``None`` (the SAM tools are hidden).
        token: the access token (random by default).
    """

    def __init__(self, store_root: str | Path, *, annotator: str, frames_root: str | Path | None = None,
                 video_ids: Sequence[str] | None = None, include_unflagged: bool = False, sam=None,
                 token: str | None = None):
        from hmtools.frames import FrameReader

        self.store = MaskStore.open(store_root)
        self.annotator = annotator
        self.reader = FrameReader(frames_root)
        self.video_ids = list(video_ids) if video_ids else None
        self.include_unflagged = include_unflagged
        self.sam = sam
        self.token = token or secrets.token_urlsafe(24)
        self._queue_lock = threading.Lock()
        self._queue: list | None = None

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
        pseudo = doc.pseudo[frame_idx] or {}
        corrected = doc.corrected[frame_idx] or {}
        objects = []
        for obj_id in doc.object_ids:
            pm, corr = pseudo.get(obj_id), corrected.get(obj_id)
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
        current = (doc.corrected[frame_idx] or {}).get(obj_id)
        if not force and correction_key(current) != item.get("base_corrected"):
            raise HTTPError(409, f"{where}: saved elsewhere since you opened it "
                                 f"({current.status if current else 'removed'} by "
                                 f"{current.by if current else '?'}); reload or overwrite",
                            conflict=True, object_id=obj_id)
        pm = (doc.pseudo[frame_idx] or {}).get(obj_id)
        now_hash = mask_hash(pm.rle) if pm is not None else None
        base_hash = item.get("base_pseudo_hash", now_hash)
        if base_hash is not None and not isinstance(base_hash, str):
            raise HTTPError(400, f"{where}: base_pseudo_hash must be a string or null")
        action = item.get("action")
        if action == "accept":
            if pm is None:
                raise HTTPError(400, f"{where}: no pseudo mask to accept")
            if base_hash != now_hash:
                raise HTTPError(409, f"{where}: the pseudo mask changed since you opened the frame; reload",
                                conflict=True, object_id=obj_id)
            rle, status = pm.rle, "confirmed"
        elif action == "empty":
            rle, status = empty_rle(doc.size_hw), "empty"
        elif action == "mask":
            rle = runs_to_rle(item.get("runs"), doc.size_hw, where)
            if rle.area == 0:
                rle, status = empty_rle(doc.size_hw), "empty"
            elif pm is not None and rle.counts == pm.rle.counts:
                status = "confirmed"
            else:
                status = "edited"
        else:
            raise HTTPError(400, f"{where}: action must be mask, accept or empty, got {action!r}")
        corr = Correction(rle, status=status, by=self.annotator, at=utc_now(), tool=TOOL, pseudo_hash=base_hash)
        return obj_id, corr, base_hash != now_hash

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


class _Handler(BaseHTTPRequestHandler):
    app: EditorApp  # set on the subclass made by make_server
    server_version = "hmtools-editor"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the terminal shows the URL and errors only
        return

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        if status >= 400:  # an unread request body must not leak into the next request
            self.close_connection = True
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json")

    def _authorised(self, query: dict) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in ALLOWED_HOSTS:
            return False
        given = self.headers.get("X-HM-Token") or (query.get("token") or [""])[0]
        return secrets.compare_digest(given.encode(), self.app.token.encode())

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        if not self._authorised(query):
            self._json(403, {"error": "forbidden: open the URL with the token printed by `hmtools correct`"})
            return
        path = [unquote(p) for p in parts.path.split("/") if p]
        try:
            if method == "GET" and path == []:
                self._send(200, EDITOR_HTML.read_bytes(), "text/html; charset=utf-8")
            elif method == "GET" and path == ["api", "queue"]:
                self._json(200, self.app.queue(refresh=query.get("refresh", ["0"])[0] == "1"))
            elif method == "GET" and len(path) == 4 and path[:2] in (["api", "frame"], ["api", "image"]):
                if not path[3].isdigit():
                    raise HTTPError(404, "frame index must be an integer")
                if path[1] == "frame":
                    self._json(200, self.app.frame(path[2], int(path[3])))
                else:
                    self._send(200, self.app.image_jpeg(path[2], int(path[3])), "image/jpeg")
            elif method == "POST" and path in (["api", "save"], ["api", "sam"]):
                payload = self._read_json()
                result = self.app.save(payload) if path[1] == "save" else self.app.sam_predict(payload)
                self._json(200, result)
            else:
                raise HTTPError(404, f"no such endpoint: {method} {parts.path}")
        except HTTPError as err:
            self._json(err.status, {"error": err.message, **err.extra})
        except HMError as err:
            self._json(400, {"error": str(err)})

    def _read_json(self):
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            raise HTTPError(400, "bad Content-Length") from None
        if length <= 0:
            raise HTTPError(400, "empty request body")
        if length > MAX_BODY_BYTES:
            raise HTTPError(413, f"request body over {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(self.rfile.read(length))
        except ValueError:
            raise HTTPError(400, "request body is not JSON") from None

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")


def make_server(app: EditorApp, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """A threading server for ``app`` on ``host:port`` (``port=0``: a free port).

    Raises:
        HMError: ``host`` is not the loopback address (the editor is never exposed to a network).
    """
    if host not in ALLOWED_HOSTS:
        raise HMError(f"the editor binds 127.0.0.1 only, refusing host {host!r} "
                      "(use an SSH tunnel to reach it from another machine)")
    handler = type("EditorHandler", (_Handler,), {"app": app})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def serve_editor(store_root: str | Path, *, annotator: str, port: int = 0, host: str = "127.0.0.1",
                 frames_root: str | Path | None = None, video_ids: Sequence[str] | None = None,
                 include_unflagged: bool = False, sam_checkpoint: str | Path | None = None,
                 sam_model: str = "vit_b", device: str = "cpu", open_browser: bool = False,
                 on_ready=print) -> None:
    """Run the editor until interrupted (Ctrl-C); ``on_ready`` receives the URL to open."""
    sam = None
    if sam_checkpoint:
        from hmtools.web.sam import SamPrompter

        sam = SamPrompter.from_checkpoint(sam_checkpoint, sam_model, device)
    app = EditorApp(store_root, annotator=annotator, frames_root=frames_root, video_ids=video_ids,
                    include_unflagged=include_unflagged, sam=sam)
    server = make_server(app, host, port)
    url = app.url(server)
    on_ready(url)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.reader.close()
