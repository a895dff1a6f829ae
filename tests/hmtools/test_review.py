"""Review queue ranking, stale corrections, CSV and contact sheet."""

import csv

import numpy as np
import pytest
from helpers.correction_store import box_mask, make_store

from hmtools.rle import empty_rle, mask_to_rle
from hmtools.review import format_table, object_priority, review_queue, run_review, stale_corrections
from hmtools.review_model import QueueModel
from hmtools.store import Correction, Flag, PseudoMask, Quality, mask_hash

RLE4 = mask_to_rle(box_mask((4, 4), 1, 3, 1, 3))


@pytest.mark.parametrize("pm, points, reasons", [
    (PseudoMask(RLE4), 0.0, ()),
    (PseudoMask(RLE4, Quality(score=0.95, stability=0.99, iou_prev=0.9, area_jump=0.1, tracker_peak=0.8)), 0.0, ()),
    (PseudoMask(RLE4, Quality(score=0.44)), 1.0, ("score=0.44",)),
    (PseudoMask(RLE4, Quality(score=-3.0)), 2.0, ("score=-3.00",)),          # capped
    (PseudoMask(RLE4, Quality(stability=0.85)), 0.4, ("stability=0.85",)),
    (PseudoMask(RLE4, Quality(iou_prev=0.0)), 2.5, ("iou_prev=0.00",)),
    (PseudoMask(RLE4, Quality(area_jump=5.0)), 2.0, ("area_jump=5.00",)),
    (PseudoMask(RLE4, Quality(area_jump=0.3)), 0.0, ()),
    (PseudoMask(RLE4, Quality(tracker_peak=0.3)), 0.4, ("tracker_peak=0.30",)),
    (PseudoMask(RLE4, Quality(border=True)), 0.5, ("border",)),
    (PseudoMask(empty_rle((4, 4)), Quality(empty=True), Flag(True, ("empty",))), 1.5 + 3.0, ("empty",)),
    (PseudoMask(RLE4, Quality(score=0.44), Flag(True, ("low_score", "border"))), 2.0 + 1.0, ("low_score", "border", "score=0.44")),
])
def test_object_priority_table(pm, points, reasons):
    p, why = object_priority(pm)
    assert p == pytest.approx(points)
    assert why == reasons


def _flagged_store(tmp_path):
    size = (12, 16)
    m = box_mask(size, 2, 8, 2, 8)
    ok = (m, Quality(score=0.95), Flag())
    frames_a = [{1: ok},
                {1: (m, Quality(score=0.8), Flag(True, ("low_score",)))},         # 1.5 + 0.18
                {1: (np.zeros(size, bool), Quality(empty=True), Flag(True, ("empty",)))},  # 4.5
                {1: ok}]
    frames_b = [{1: (m, Quality(iou_prev=0.1, border=True), Flag(True, ("iou_prev", "border")))},  # 2 + 2.19 + .5
                {1: ok}, None]
    return make_store(tmp_path, {"a": ("107B", frames_a), "b": ("407C", frames_b)}, size_hw=size)


# p(bad) = sigmoid(empty): the empty frame first, the others tied at 0.5 and ordered by points.
EMPTY_FIRST = QueueModel(("empty",), (1.0,), (0.0,), (1.0,), 0.0)


def test_queue_ranks_by_model_then_points_and_drops_corrected(tmp_path, monkeypatch):
    import hmtools.review as review

    monkeypatch.setattr(review, "load_model", lambda: EMPTY_FIRST)
    store = _flagged_store(tmp_path)
    items = review_queue(store)
    assert [(it.video_id, it.frame_idx) for it in items] == [("a", 2), ("b", 0), ("a", 1)]
    assert items[0].priority == pytest.approx(1 / (1 + np.exp(-1)))
    assert items[1].priority == pytest.approx(0.5)
    assert items[1].objects[0].priority == pytest.approx(2.0 + 2.5 * 0.7 / 0.8 + 0.5)
    assert items[1].reasons_text == "1: iou_prev, border, iou_prev=0.10"
    assert len(review_queue(store, include_unflagged=True)) == 6
    # Correct frame a/2: it leaves the queue (unless asked for).
    with store.edit("a") as doc:
        doc.set_correction(2, 1, Correction(empty_rle((12, 16)), "empty", "me", "t", "test",
                                            mask_hash(doc.pseudo[2][1].rle)))
    assert [(it.video_id, it.frame_idx) for it in review_queue(store)] == [("b", 0), ("a", 1)]
    again = review_queue(store, include_corrected=True)
    # a/2 is corrected as empty: still empty, so still first under this model.
    assert [(it.video_id, it.frame_idx, it.objects[0].corrected) for it in again] == [
        ("a", 2, True), ("b", 0, False), ("a", 1, False)]
    assert [it.frame_idx for it in review_queue(store, ["a"])] == [1]
    assert len(review_queue(store, limit=1)) == 1


def test_stale_lists_corrections_whose_pseudo_changed(tmp_path):
    store = _flagged_store(tmp_path)
    with store.edit("a") as doc:
        old = doc.pseudo[1][1]
        doc.set_correction(1, 1, Correction(old.rle, "confirmed", "me", "t", "test", mask_hash(old.rle)))
        doc.set_correction(3, 1, Correction(old.rle, "confirmed", "me", "t", "test", mask_hash(old.rle)))
    assert stale_corrections(store) == []
    with store.edit("a") as doc:  # regenerate the pseudo mask of frame 1
        doc.set_pseudo(1, 1, PseudoMask(mask_to_rle(box_mask((12, 16), 0, 3, 0, 3))))
    (item,) = stale_corrections(store)
    assert (item.video_id, item.frame_idx, item.object_id, item.status) == ("a", 1, 1, "confirmed")
    assert item.pseudo_hash_then == mask_hash(old.rle) != item.pseudo_hash_now


def test_run_review_csv_and_contact_sheet(tmp_path):
    import cv2

    store = _flagged_store(tmp_path)
    rep = run_review(store, csv_path=tmp_path / "q.csv", png_path=tmp_path / "sheet.png", sheet_n=2)
    with open(tmp_path / "q.csv") as fh:
        rows = list(csv.DictReader(fh))
    # The shipped calibration (none+seeded) expects an empty mask to be right more often than a
    # low score: the empty frame comes last.
    assert [(r["video_id"], r["frame_idx"], r["frame"]) for r in rows] == [
        ("b", "0", "00001.jpg"), ("a", "1", "00002.jpg"), ("a", "2", "00003.jpg")]
    assert rows[2]["reasons"] == "1: empty" and rows[0]["action_type"] == "407C"
    img = cv2.imread(str(rep.png_path))
    assert img is not None and img.shape[0] > 50 and img.shape[1] > 100
    table = format_table(rep.rows(), max_rows=2)
    assert table.splitlines()[0].split() == ["video_id", "frame_idx", "frame", "action_type", "priority",
                                             "objects", "reasons"]
    assert table.splitlines()[-1] == "... and 1 more"


def test_contact_sheet_survives_missing_frames(tmp_path):
    import shutil

    store = _flagged_store(tmp_path)
    shutil.rmtree(tmp_path / "frames")
    rep = run_review(store, png_path=tmp_path / "sheet.png")
    assert rep.png_path.is_file()


def test_frames_root_override(tmp_path):
    from hmtools.frames import FrameReader

    store = _flagged_store(tmp_path)
    moved = tmp_path / "elsewhere"
    (tmp_path / "frames").rename(moved)
    doc = store.read("a")
    with pytest.raises(Exception, match="frames not found"):
        FrameReader().read_rgb(doc, 0)
    rgb = FrameReader(moved).read_rgb(doc, 0)
    assert rgb.shape == (12, 16, 3) and rgb.dtype == np.uint8


def test_frames_from_video_file(tmp_path):
    import cv2

    from hmtools.frames import FrameReader
    from hmtools.store import VideoDoc

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for k in range(5):
        writer.write(np.full((24, 32, 3), k * 50, np.uint8))
    writer.release()
    doc = VideoDoc.new("clip", (24, 32), [f"{k:06d}.jpg" for k in range(5)], source=str(path))
    reader = FrameReader()
    means = [int(round(reader.read_rgb(doc, k).mean())) for k in (3, 4, 1)]  # forward, then back
    assert [abs(m - e) <= 3 for m, e in zip(means, (150, 200, 50))] == [True] * 3
    with pytest.raises(Exception, match="outside"):
        reader.read_rgb(doc, 5)
    reader.close()


def test_review_command(tmp_path):
    from click.testing import CliRunner

    from cli import hmtools

    store = _flagged_store(tmp_path)
    res = CliRunner().invoke(hmtools, ["review", "--store", str(store.root), "--csv", str(tmp_path / "q.csv")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:3] == ["video_id", "frame_idx", "frame"]
    assert lines[1].split()[:3] == ["b", "0", "00001.jpg"]
    assert "3 frame(s) to review" in res.output
    res = CliRunner().invoke(hmtools, ["review", "--store", str(store.root), "--stale"])
    assert res.exit_code == 0 and "(nothing)" in res.output and "0 stale correction(s)" in res.output
    res = CliRunner().invoke(hmtools, ["review", "--store", str(tmp_path / "nostore")])
    assert res.exit_code == 1 and "no such mask store" in res.output


# p(bad) grows with the distance from the nearest anchor and with an area deviation.
DIST_MODEL = QueueModel(("anchor_dist", "area_dev"), (2.0, 1.0), (0.0, 0.0), (1.0, 1.0), -3.0)


def test_gain_queue_takes_the_frame_that_regenerates_the_bad_ones(tmp_path, monkeypatch):
    import hmtools.review as review

    monkeypatch.setattr(review, "load_model", lambda: DIST_MODEL)
    size = (12, 16)
    m = box_mask(size, 2, 8, 2, 8)
    small = box_mask(size, 2, 4, 2, 4)  # an area deviation: the frame looks bad
    ok = (m, Quality(score=0.9), Flag())
    frames = [ok] * 10
    frames[8] = frames[9] = (small, Quality(score=0.9), Flag())
    store = make_store(tmp_path, {"v": ("107B", [{1: f} for f in frames])}, size_hw=size)
    plain = review_queue(store, include_unflagged=True, spread=False)
    assert [it.frame_idx for it in plain][:2] == [9, 8]  # far from the start and deviating: both first
    gain = review_queue(store, include_unflagged=True)
    # 6 regenerates 4-9 (the two deviating frames among them, from 2-3 frames away); then 3, the
    # middle of what is left between the start and 6; the deviating 8 only after that
    assert [it.frame_idx for it in gain][:3] == [6, 3, 8]
    assert gain[0].priority == pytest.approx(plain[[it.frame_idx for it in plain].index(6)].priority)
    assert gain[2].priority < plain[1].priority  # 8 is predicted as regenerated from 6
