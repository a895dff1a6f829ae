"""The local correction editor: API-level tests, and one end-to-end test in headless Chromium."""

import contextlib
import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from helpers.correction_store import box_mask, make_store
from helpers.pseudo_clips import square_clip

from hmtools.errors import HMError
from hmtools.rle import mask_to_rle, rle_to_mask
from hmtools.pseudo.settings import PseudoMaskSettings
from hmtools.store import Flag, MaskStore, PseudoMask, Quality, VideoDoc, mask_hash
from hmtools.web.app import EditorApp, HTTPError, rle_to_runs
from hmtools.web.server import make_server

SIZE = (12, 16)


@pytest.fixture
def served(tmp_path):
    """A running editor on a two-video store; yields (app, base_url, store)."""
    store = make_store(tmp_path, size_hw=SIZE, n_frames=4)
    app = EditorApp(store, annotator="tester")
    server = make_server(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield app, f"http://{host}:{port}", store
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _call(url, body=None, token=None, headers=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 headers={**({"X-HM-Token": token} if token else {}), **(headers or {}),
                                          **({"Content-Type": "application/json"} if body is not None else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            data = res.read()
            return res.status, (json.loads(data) if res.headers.get_content_type() == "application/json" else data)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _save_body(frame, obj_id, mask, action="mask"):
    o = next(o for o in frame["objects"] if o["id"] == obj_id)
    item = {"object_id": obj_id, "action": action, "base_corrected": o["base_corrected"],
            "base_pseudo_hash": o["pseudo"]["hash"] if o["pseudo"] else None}
    if action == "mask":
        item["runs"] = rle_to_runs(mask_to_rle(mask))
    return {"video_id": frame["video_id"], "frame_idx": frame["frame_idx"], "objects": [item]}


def test_token_required_everywhere(served):
    app, base, _ = served
    for path in ("/", "/api/queue", "/api/frame/v1/0", "/api/image/v1/0"):
        assert _call(base + path)[0] == 403
        assert _call(base + path + "?token=wrong")[0] == 403
    assert _call(base + "/api/save", {"video_id": "v1"}, token="wrong")[0] == 403
    status, page = _call(f"{base}/?token={app.token}")
    assert status == 200 and b"<canvas" in page
    assert _call(base + "/api/queue", token=app.token)[0] == 200
    # A foreign Host header (DNS rebinding) is refused even with the token.
    assert _call(base + "/api/queue", token=app.token, headers={"Host": "evil.example:80"})[0] == 403


def test_binds_loopback_only(tmp_path):
    store = make_store(tmp_path)
    app = EditorApp(store, annotator="t")
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(HMError, match="127.0.0.1 only"):
            make_server(app, host=host)
    server = make_server(app, host="localhost")
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()
    assert len(app.token) >= 32 and app.token != EditorApp(store, annotator="t").token


def test_queue_frame_image_and_save(served):
    app, base, store = served
    status, q = _call(base + "/api/queue", token=app.token)
    assert [(it["video_id"], it["frame_idx"]) for it in q["items"]] == [("v1", 1), ("v2", 1)]
    assert q["sam"] is False and q["annotator"] == "tester"
    status, frame = _call(base + "/api/frame/v1/1", token=app.token)
    assert status == 200 and frame["size_hw"] == [12, 16] and frame["frame"] == "00002.jpg"
    pseudo = store.read("v1").pseudo[1][1].rle
    assert frame["objects"][0]["pseudo"]["runs"] == rle_to_runs(pseudo)
    assert frame["objects"][0]["pseudo"]["hash"] == mask_hash(pseudo)
    status, jpeg = _call(base + "/api/image/v1/1", token=app.token)
    assert status == 200 and jpeg[:2] == b"\xff\xd8"
    # Save an edited mask.
    edited = rle_to_mask(pseudo).copy()
    edited[9:11, 10:14] = True
    status, res = _call(base + "/api/save", _save_body(frame, 1, edited), token=app.token)
    assert status == 200 and res["saved"][0]["status"] == "edited"
    corr = store.read("v1").corrected[1][1]
    assert (rle_to_mask(corr.rle) == edited).all()
    assert (corr.status, corr.by, corr.tool, corr.pseudo_hash) == ("edited", "tester", "web-editor", mask_hash(pseudo))
    # The frame left the queue.
    assert [it["video_id"] for it in _call(base + "/api/queue", token=app.token)[1]["items"]] == ["v2"]
    # Accept and empty on another frame.
    _, f2 = _call(base + "/api/frame/v2/0", token=app.token)
    assert _call(base + "/api/save", _save_body(f2, 1, None, "accept"), token=app.token)[1]["saved"][0]["status"] == "confirmed"
    _, f3 = _call(base + "/api/frame/v2/2", token=app.token)
    assert _call(base + "/api/save", _save_body(f3, 1, None, "empty"), token=app.token)[1]["saved"][0]["status"] == "empty"
    doc = store.read("v2")
    assert doc.corrected[0][1].rle.counts == doc.pseudo[0][1].rle.counts
    assert doc.corrected[2][1].rle.area == 0


def test_statuses_come_from_the_store_rule(tmp_path):
    """Accepting an empty pseudo mask records ``empty`` (behaviour change, issue 10: it was
    ``confirmed``); drawing exactly the pseudo mask records ``confirmed``."""
    nobody = np.zeros(SIZE, bool)
    store = make_store(tmp_path, {"v1": ("107B", [{1: (nobody, Quality(empty=True), Flag(True, ("empty",)))},
                                                 {1: (box_mask(SIZE, 2, 8, 2, 7), Quality(), Flag())}])})
    app = EditorApp(store, annotator="t")
    for frame_idx, action in ((0, "accept"), (1, "mask")):
        frame = app.frame("v1", frame_idx)
        mask = rle_to_mask(store.read("v1").pseudo_mask(frame_idx, 1).rle)
        app.save(_save_body(frame, 1, mask, action))
    doc = store.read("v1")
    assert [doc.correction(i, 1).status for i in range(2)] == ["empty", "confirmed"]


@pytest.mark.parametrize("mutate, status, error", [
    (lambda b: b["objects"][0].update(runs=[1, 2]), 400, "runs sum to 3"),
    (lambda b: b["objects"][0].update(runs=[-1, 193]), 400, "integers in 0"),
    (lambda b: b["objects"][0].update(action="paint"), 400, "action must be"),
    (lambda b: b["objects"][0].update(object_id=9), 400, "unknown object 9"),
    (lambda b: b.update(frame_idx=99), 404, "outside"),
    (lambda b: b.update(video_id="nosuch"), 404, "nosuch"),
])
def test_bad_saves_refused_and_nothing_written(served, mutate, status, error):
    app, base, store = served
    _, frame = _call(base + "/api/frame/v1/1", token=app.token)
    body = _save_body(frame, 1, np.ones(SIZE, bool))
    mutate(body)
    got_status, res = _call(base + "/api/save", body, token=app.token)
    assert got_status == status and error in res["error"]
    assert store.read("v1").corrected == [None] * 4


def test_sam_without_checkpoint_is_a_clear_400(served):
    app, base, _ = served
    status, res = _call(base + "/api/sam", {"video_id": "v1", "frame_idx": 0, "box_xyxy": [1, 1, 5, 5]},
                        token=app.token)
    assert status == 400 and "--sam-checkpoint" in res["error"]


@pytest.mark.slow
def test_sam_reprompt_with_tiny_model(tmp_path):
    pytest.importorskip("segment_anything")
    from hmtools.pseudo.sam import build_tiny_sam
    from hmtools.web.sam import SamPrompter

    store = make_store(tmp_path, size_hw=(48, 64))
    app = EditorApp(store, annotator="t", sam=SamPrompter(build_tiny_sam))
    res = app.sam_predict({"video_id": "v1", "frame_idx": 0, "box_xyxy": [8, 8, 40, 40]})
    assert sum(res["runs"]) == 48 * 64 and res["area"] == sum(res["runs"][1::2])
    res2 = app.sam_predict({"video_id": "v1", "frame_idx": 0, "points": [[20, 20, 1], [5, 5, 0]]})
    assert sum(res2["runs"]) == 48 * 64
    assert app.queue()["sam"] is True


def test_concurrent_saves_to_different_frames_both_survive(served):
    app, base, store = served
    frames = [_call(f"{base}/api/frame/v1/{i}", token=app.token)[1] for i in range(4)]
    masks = [box_mask(SIZE, i, i + 3, 0, 4 + i) for i in range(4)]
    barrier = threading.Barrier(4)
    results = [None] * 4

    def worker(i):
        barrier.wait()
        results[i] = _call(base + "/api/save", _save_body(frames[i], 1, masks[i]), token=app.token)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r[0] for r in results] == [200] * 4
    doc = store.read("v1")
    for i in range(4):
        assert (rle_to_mask(doc.corrected[i][1].rle) == masks[i]).all()


def test_same_frame_from_two_tabs_conflicts_instead_of_losing_work(served):
    app, base, store = served
    _, tab1 = _call(base + "/api/frame/v1/2", token=app.token)
    _, tab2 = _call(base + "/api/frame/v1/2", token=app.token)
    m1, m2 = box_mask(SIZE, 0, 2, 0, 2), box_mask(SIZE, 5, 9, 5, 9)
    assert _call(base + "/api/save", _save_body(tab1, 1, m1), token=app.token)[0] == 200
    status, res = _call(base + "/api/save", _save_body(tab2, 1, m2), token=app.token)
    assert status == 409 and res["conflict"] is True and "saved elsewhere" in res["error"]
    assert (rle_to_mask(store.read("v1").corrected[2][1].rle) == m1).all()
    forced = _save_body(tab2, 1, m2)
    forced["force"] = True
    assert _call(base + "/api/save", forced, token=app.token)[0] == 200
    assert (rle_to_mask(store.read("v1").corrected[2][1].rle) == m2).all()


def test_regenerated_pseudo_mask_is_recorded_as_stale(served):
    app, base, store = served
    _, frame = _call(base + "/api/frame/v1/3", token=app.token)
    with store.edit("v1") as doc:
        doc.set_pseudo(3, 1, PseudoMask(mask_to_rle(box_mask(SIZE, 0, 1, 0, 1)), Quality(), Flag()))
    status, res = _call(base + "/api/save", _save_body(frame, 1, box_mask(SIZE, 3, 6, 3, 6)), token=app.token)
    assert status == 200 and res["stale_objects"] == [1]
    assert list(store.read("v1").stale_corrections()) == [(3, 1)]
    status, res = _call(base + "/api/save", {**_save_body(frame, 1, None, "accept"), "force": True}, token=app.token)
    assert status == 409 and "pseudo mask changed" in res["error"]


def _square_store(tmp_path, n=12):
    """A moving square whose pseudo layer lost the athlete on every frame; returns (store, truth)."""
    folder = tmp_path / "frames" / "sq"
    truth = square_clip(folder, n=n)
    store = MaskStore.create(tmp_path / "store")
    doc = VideoDoc.new("sq", truth[0].shape, sorted(p.name for p in folder.iterdir()), source=str(folder))
    wrong = box_mask(truth[0].shape, 30, 40, 40, 60)
    for i in range(n):
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(wrong), Quality(score=0.4), Flag(True, ("low_score",))))
    store.write(doc)
    return store, truth


def _iou(a, b):
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


def test_propagate_from_a_corrected_frame(served, tmp_path):
    """Correct frames 3 and 9, propagate from 3: frames 2 and 4-6 (up to half-way to the next anchor)
    are rewritten from 3; 7-8 (anchor 9's half), 0-1 (the producer's start) and the corrections stay."""
    store, truth = _square_store(tmp_path)
    app = EditorApp(store, annotator="t", propagate_settings=PseudoMaskSettings(tracker="none"))
    for k in (3, 9):
        app.save(_save_body(app.frame("sq", k), 1, truth[k]))
    before = store.read("sq")
    res = app.propagate({"video_id": "sq", "frame_idx": 3})
    assert (res["status"], res["rewritten"]) == ("done", 4)
    doc = store.read("sq")
    changed = [i for i in range(12) if doc.pseudo_mask(i, 1) != before.pseudo_mask(i, 1)]
    assert changed == [2, 4, 5, 6]
    assert min(_iou(rle_to_mask(doc.pseudo_mask(i, 1).rle).astype(bool), truth[i]) for i in changed) > 0.6
    assert {doc.pseudo_mask(i, 1).anchor for i in changed} == {"00103.png"}
    for k in (3, 9):
        assert doc.correction(k, 1) == before.correction(k, 1) and not doc.is_stale(k, 1)
    with pytest.raises(HTTPError) as err:  # a frame without a correction: one line, nothing written
        app.propagate({"video_id": "sq", "frame_idx": 5})
    assert err.value.status == 400 and "no correction to propagate from" in err.value.message
    assert "\n" not in err.value.message and store.read("sq") == doc


def test_propagate_endpoint(served):
    app, base, store = served
    app.propagate_settings = PseudoMaskSettings(tracker="none")
    _, frame = _call(base + "/api/frame/v1/1", token=app.token)
    assert _call(base + "/api/save", _save_body(frame, 1, box_mask(SIZE, 3, 9, 4, 10)), token=app.token)[0] == 200
    before = store.read("v1")
    status, res = _call(base + "/api/propagate", {"video_id": "v1", "frame_idx": 1}, token=app.token)
    assert status == 200 and res["status"] == "done" and res["rewritten"] == 2  # 2-3; 0 is the start's
    doc = store.read("v1")
    assert doc.correction(1, 1) == before.correction(1, 1)
    assert [doc.pseudo_mask(i, 1).anchor for i in range(4)] == [None, None, "00002.jpg", "00002.jpg"]
    assert _call(base + "/api/propagate", {"video_id": "v1", "frame_idx": 1})[0] == 403
    status, res = _call(base + "/api/propagate", {"video_id": "nosuch", "frame_idx": 0}, token=app.token)
    assert status == 404 and "nosuch" in res["error"]


# -- the browser test -----------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright; no browser download needed)")
    return sync_playwright


BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--no-first-run", "--disable-extensions"]


class _Served:
    """The editor on ``store`` in a background thread (context manager)."""

    def __init__(self, store, annotator):
        self.app = EditorApp(store, annotator=annotator)
        self.server = make_server(self.app)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.app.url(self.server)

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@contextlib.contextmanager
def _editor_page(store, annotator, fragment=""):
    """A 1400x900 headless Chromium page on the editor, ready; yields (page, page errors)."""
    sync_playwright = _playwright()
    with _Served(store, annotator) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url + fragment)
            page.wait_for_selector("body[data-state=ready]", timeout=15000)
            yield page, errors
        finally:
            browser.close()


def _stroke(page, size_hw, y, x0, x1):
    """Drag the mouse along image row ``y`` from column ``x0`` to ``x1`` (image pixel centres)."""
    box = page.locator("#canvas").bounding_box()
    sx, sy = box["width"] / size_hw[1], box["height"] / size_hw[0]
    page.mouse.move(box["x"] + (x0 + 0.5) * sx, box["y"] + (y + 0.5) * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + (x1 + 0.5) * sx, box["y"] + (y + 0.5) * sy, steps=12)
    page.mouse.up()


def _assert_stroke(got, pseudo, y, x0, x1):
    """Every pixel on the stroke is painted; nothing further than the brush radius (+1) changed."""
    assert got[y, x0:x1 + 1].all()
    yy, xx = np.mgrid[:got.shape[0], :got.shape[1]]
    near = (np.abs(yy - y) <= 2) & (xx >= x0 - 2) & (xx <= x1 + 2)
    assert (got[~near] == pseudo[~near]).all()
    assert got[pseudo].all()


@pytest.mark.browser
def test_browser_paint_stroke_and_save(tmp_path):
    size = (48, 64)
    pseudo = box_mask(size, 10, 30, 10, 24)
    store = make_store(tmp_path, {"dive": ("107B", [{1: (pseudo, Quality(score=0.3), Flag(True, ("low_score",)))}])},
                       size_hw=size)
    y, x0, x1 = 40, 30, 58             # a stroke along image row 40, outside the pseudo box
    with _editor_page(store, "browser") as (page, errors):
        assert page.inner_text("#where").startswith("dive 00001.jpg")
        page.evaluate("() => { document.getElementById('size').value = 3; }")
        _stroke(page, size, y, x0, x1)
        page.keyboard.press("s")
        page.wait_for_selector("body[data-state=saved]", timeout=15000)
        assert "1:edited" in page.inner_text("#status")
        assert errors == []
    corr = store.read("dive").corrected[0][1]
    assert (corr.status, corr.by, corr.tool) == ("edited", "browser", "web-editor")
    _assert_stroke(rle_to_mask(corr.rle), pseudo, y, x0, x1)


@pytest.mark.browser
def test_browser_two_tabs_save_different_frames_of_one_video(tmp_path):
    sync_playwright = _playwright()
    size = (48, 64)
    pseudo = box_mask(size, 10, 30, 10, 24)
    flagged = (pseudo, Quality(score=0.3), Flag(True, ("low_score",)))
    store = make_store(tmp_path, {"dive": ("107B", [{1: flagged}, {1: flagged}])}, size_hw=size)
    rows = {0: 36, 1: 42}
    with _Served(store, "tabs") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=BROWSER_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            tabs = {}
            for idx in rows:
                tab = context.new_page()
                tab.goto(f"{url}#dive/{idx}")
                tab.wait_for_selector("body[data-state=ready]", timeout=15000)
                tab.evaluate("() => { document.getElementById('size').value = 3; }")
                _stroke(tab, size, rows[idx], 30, 58)
                tabs[idx] = tab
            for tab in tabs.values():           # both saves in flight before either is awaited
                tab.evaluate("() => { document.getElementById('b-save').click(); }")
            for tab in tabs.values():
                tab.wait_for_selector("body[data-state=saved]", timeout=15000)
        finally:
            browser.close()
    doc = store.read("dive")
    for idx, y in rows.items():
        corr = doc.corrected[idx][1]
        assert (corr.status, corr.by) == ("edited", "tabs")
        _assert_stroke(rle_to_mask(corr.rle), pseudo, y, 30, 58)


@pytest.mark.browser
def test_browser_fits_the_frame_zooms_pans_and_propagates(tmp_path):
    """At 1400x900 a 720x1280 frame is wholly visible without scroll bars; after zooming in (wheel)
    and panning (Alt+drag) a stroke still lands on the right image pixels; "propagate from here"
    reports how many frame masks it rewrote."""
    size = (720, 1280)
    pseudo = box_mask(size, 100, 300, 100, 300)
    flagged = (pseudo, Quality(score=0.3), Flag(True, ("low_score",)))
    store = make_store(tmp_path, {"big": ("107B", [{1: flagged}, {1: flagged}, {1: flagged}])}, size_hw=size)
    y, x0, x1 = 400, 600, 640
    with _editor_page(store, "zoom", "#big/0") as (page, errors):
        geo = page.evaluate("""() => { const d = document.documentElement, s = document.getElementById('stage');
            return {dw: d.scrollWidth - innerWidth, dh: d.scrollHeight - innerHeight,
                    sw: s.scrollWidth - s.clientWidth, sh: s.scrollHeight - s.clientHeight,
                    stage: s.getBoundingClientRect().toJSON()}; }""")
        assert (geo["dw"], geo["dh"], geo["sw"], geo["sh"]) == (0, 0, 0, 0), geo
        fitted, stage = page.locator("#canvas").bounding_box(), geo["stage"]
        assert fitted["x"] >= stage["x"] and fitted["y"] >= stage["y"]
        assert fitted["x"] + fitted["width"] <= stage["x"] + stage["width"] + 0.5
        assert fitted["y"] + fitted["height"] <= stage["y"] + stage["height"] + 0.5
        assert max(fitted["width"] / stage["width"], fitted["height"] / stage["height"]) > 0.95  # fills it
        assert abs(fitted["width"] / fitted["height"] - size[1] / size[0]) < 0.01
        # Zoom in about the stroke's place with the wheel, then pan with Alt+drag.
        sx = fitted["x"] + (x0 + 20) * fitted["width"] / size[1]
        sy = fitted["y"] + y * fitted["height"] / size[0]
        page.mouse.move(sx, sy)
        for _ in range(4):
            page.mouse.wheel(0, -300)
        page.wait_for_function(f"() => document.getElementById('canvas').getBoundingClientRect().width > "
                               f"{3 * fitted['width']}")
        zoomed = page.locator("#canvas").bounding_box()
        page.keyboard.down("Alt")
        page.mouse.move(sx, sy)
        page.mouse.down()
        page.mouse.move(sx - 40, sy + 30, steps=5)
        page.mouse.up()
        page.keyboard.up("Alt")
        panned = page.locator("#canvas").bounding_box()
        assert (round(panned["x"] - zoomed["x"]), round(panned["y"] - zoomed["y"])) == (-40, 30)
        page.evaluate("() => { document.getElementById('size').value = 3; }")
        _stroke(page, size, y, x0, x1)
        page.keyboard.press("s")
        page.wait_for_selector("body[data-state=saved]", timeout=15000)
        page.keyboard.press("r")
        page.wait_for_selector("body[data-state=propagated], body[data-state=error]", timeout=30000)
        assert "2 frame mask(s) rewritten" in page.inner_text("#status")
        page.keyboard.press("0")
        assert page.locator("#canvas").bounding_box() == fitted
        assert errors == []
    doc = store.read("big")
    _assert_stroke(rle_to_mask(doc.corrected[0][1].rle), pseudo, y, x0, x1)
    assert [doc.pseudo_mask(i, 1).anchor for i in range(3)] == [None, "00001.jpg", "00001.jpg"]
