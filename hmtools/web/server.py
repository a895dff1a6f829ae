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
  when no SAM checkpoint is configured;
* ``POST /api/propagate`` ``{video_id, frame_idx}`` -> ``{status, rewritten}``: the video's pseudo
  masks re-propagated from the corrections on that frame to the neighbouring anchors (never a
  correction); a failure is a 400 with a one-line ``error``.

Saves never lose work silently. Each object's save names the correction it started from
(``base_corrected``: ``"<status>:<mask hash>"`` or ``null``); if another tab or tool saved that
object of that frame since, the save is refused with 409 and the page asks before overwriting.
Saves to different frames (or objects) of one video from two tabs both land: each is a
read-modify-write of the document under the video's lock. ``pseudo_hash`` of a correction is the
hash of the pseudo mask the annotator saw; when the pseudo layer was regenerated meanwhile, a drawn
mask is still saved (and listed by ``hmtools review --stale``), an "accept" is refused (409).

Example:
    >>> app = EditorApp(MaskStore.open("data/store"), annotator="ana")   # doctest: +SKIP
    >>> server = make_server(app)                             # doctest: +SKIP
    >>> print(app.url(server)); server.serve_forever()        # doctest: +SKIP
"""

from __future__ import annotations

import json
import secrets
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Sequence
from urllib.parse import parse_qs, unquote, urlsplit

from hmtools.errors import HMError
from hmtools.store import MaskStore
from hmtools.web.app import EditorApp, HTTPError

MAX_BODY_BYTES = 32 * 1024 ** 2
ALLOWED_HOSTS = ("127.0.0.1", "localhost")
EDITOR_HTML = Path(__file__).with_name("editor.html")


class _Handler(BaseHTTPRequestHandler):
    app: EditorApp  # set on the subclass made by make_server
    server_version = "hmtools-editor"
    protocol_version = "HTTP/1.1"
    _POSTS = {"save": "save", "sam": "sam_predict", "propagate": "propagate"}  # endpoint -> EditorApp method

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
            elif method == "POST" and len(path) == 2 and path[0] == "api" and path[1] in self._POSTS:
                self._json(200, getattr(self.app, self._POSTS[path[1]])(self._read_json()))
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


def serve_editor(store: MaskStore, *, annotator: str, port: int = 0, host: str = "127.0.0.1",
                 frames_root: str | Path | None = None, video_ids: Sequence[str] | None = None,
                 include_unflagged: bool = False, sam_checkpoint: str | Path | None = None,
                 sam_model: str = "vit_b", device: str = "cpu", open_browser: bool = False,
                 propagate_settings=None, on_ready=print) -> None:
    """Run the editor until interrupted (Ctrl-C); ``on_ready`` receives the URL to open.

    ``propagate_settings`` (a :class:`~hmtools.pseudo.settings.PseudoMaskSettings`) chooses the
    backends of "propagate from this frame" (default: the library's, as ``hmtools propagate``).
    """
    sam = None
    if sam_checkpoint:
        from hmtools.web.sam import SamPrompter

        sam = SamPrompter.from_checkpoint(sam_checkpoint, sam_model, device)
    app = EditorApp(store, annotator=annotator, frames_root=frames_root, video_ids=video_ids,
                    include_unflagged=include_unflagged, sam=sam, propagate_settings=propagate_settings)
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
