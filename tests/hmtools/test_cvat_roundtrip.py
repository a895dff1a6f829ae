"""Export a CVAT task, edit its XML like an annotator would, import it back."""

import json
import xml.etree.ElementTree as ET
import zipfile

import numpy as np
import pytest
from helpers.correction_store import box_mask, make_store

from hmtools.workflows.cvat_export import export_cvat_task
from hmtools.workflows.cvat_import import ImportRefused, format_import_report, import_cvat
from hmtools.formats.cvat_rle import coco_rle_to_cvat
from hmtools.rle import mask_to_rle, rle_to_mask
from hmtools.store import Flag, Quality, mask_hash


def _docs(store):
    return {vid: store.read(vid) for vid in store.video_ids()}


def _set_mask(el_image, mask, athlete_id="1"):
    """Replace the image's masks by one mask (as CVAT would write after an edit)."""
    for child in list(el_image):
        el_image.remove(child)
    runs, left, top, width, height = coco_rle_to_cvat(mask_to_rle(mask))
    m = ET.SubElement(el_image, "mask", {"label": "athlete", "source": "manual", "occluded": "0", "rle": runs,
                                         "left": str(left), "top": str(top), "width": str(width),
                                         "height": str(height), "z_order": "0"})
    ET.SubElement(m, "attribute", {"name": "athlete_id"}).text = athlete_id


def _images(tree):
    return {im.get("name"): im for im in tree.getroot().findall("image")}


def test_export_layout_and_xml(tmp_path):
    store = make_store(tmp_path)
    rep = export_cvat_task(store, tmp_path / "task")
    assert (rep.n_videos, rep.n_frames, rep.n_masks, rep.n_empty_frames) == (2, 8, 8, 0)
    files = sorted(p.relative_to(tmp_path / "task").as_posix() for p in (tmp_path / "task").rglob("*.*"))
    assert files == ["annotations.xml"] + [f"images/{v}/{k:05d}.jpg" for v in ("v1", "v2")
                                           for k in range(1, 5)] + ["labels.json"]
    # Frame images are byte copies of the source frames.
    assert (tmp_path / "task/images/v1/00002.jpg").read_bytes() == (tmp_path / "frames/v1/00002.jpg").read_bytes()
    tree = ET.parse(tmp_path / "task" / "annotations.xml")
    images = tree.getroot().findall("image")
    assert [im.get("id") for im in images] == [str(k) for k in range(8)]
    im = _images(tree)["v1/00002.jpg"]
    assert (im.get("width"), im.get("height")) == ("16", "12")
    (mask,) = im.findall("mask")
    doc = store.read("v1")
    attrs = {a.get("name"): a.text for a in mask.findall("attribute")}
    assert attrs == {"athlete_id": "1", "pseudo_hash": mask_hash(doc.pseudo[1][1].rle), "flag_reasons": "low_score"}
    # Frame 1's box: rows 2..7, columns 3..7 -> a full 5x6 box, one foreground run.
    assert (mask.get("left"), mask.get("top"), mask.get("width"), mask.get("height")) == ("3", "2", "5", "6")
    assert mask.get("rle") == "0, 30"
    assert json.loads((tmp_path / "task" / "labels.json").read_text())[0]["name"] == "athlete"


def test_roundtrip_changes_exactly_the_edited_frames(tmp_path):
    store = make_store(tmp_path)
    export_cvat_task(store, tmp_path / "task")
    xml_path = tmp_path / "task" / "annotations.xml"
    tree = ET.parse(xml_path)
    images = _images(tree)
    new_mask = box_mask((12, 16), 1, 4, 9, 15)
    _set_mask(images["v1/00002.jpg"], new_mask)            # edited
    for child in list(images["v2/00003.jpg"]):              # mask deleted -> empty
        images["v2/00003.jpg"].remove(child)
    tree.write(xml_path)
    before = _docs(store)

    # Dry run: reports, writes nothing.
    rep = import_cvat(store, xml_path, annotator="ann", dry_run=True)
    text = format_import_report(rep)
    assert "v1: 4 frame(s) would change" in text and "edited 1: 00002.jpg#1" in text
    assert "empty 1: 00003.jpg#1" in text and "dry run: nothing written" in text
    assert {v: d.corrected for v, d in _docs(store).items()} == {v: d.corrected for v, d in before.items()}

    rep = import_cvat(store, xml_path, annotator="ann")
    after = _docs(store)
    statuses = {(c.video_id, c.frame_name): c.correction.status for c in rep.changes}
    assert statuses == {("v1", "00001.jpg"): "confirmed", ("v1", "00002.jpg"): "edited",
                        ("v1", "00003.jpg"): "confirmed", ("v1", "00004.jpg"): "confirmed",
                        ("v2", "00001.jpg"): "confirmed", ("v2", "00002.jpg"): "confirmed",
                        ("v2", "00003.jpg"): "empty", ("v2", "00004.jpg"): "confirmed"}
    for vid in ("v1", "v2"):
        for i in range(4):
            eff_before = rle_to_mask(before[vid].effective(i))
            eff_after = rle_to_mask(after[vid].effective(i))
            corr = after[vid].corrected[i][1]
            assert (corr.by, corr.tool) == ("ann", "cvat")
            assert corr.pseudo_hash == mask_hash(after[vid].pseudo[i][1].rle)
            if (vid, i) == ("v1", 1):
                assert (eff_after == new_mask).all() and corr.status == "edited"
            elif (vid, i) == ("v2", 2):
                assert not eff_after.any() and corr.status == "empty"
            else:
                assert (eff_after == eff_before).all() and corr.status == "confirmed"
    # The pseudo layer is never touched.
    assert all(after[v].pseudo == before[v].pseudo for v in after)

    # Importing the same file again changes nothing (who/when kept).
    rep2 = import_cvat(store, xml_path, annotator="other")
    assert rep2.changes == [] and rep2.unchanged == 8
    assert store.read("v1").corrected[1][1].by == "ann"


def test_flagged_only_zip_export_and_import_from_zip(tmp_path):
    store = make_store(tmp_path)
    rep = export_cvat_task(store, tmp_path / "task.zip", flagged_only=True)
    assert rep.n_frames == 2  # frame 1 of each video is flagged
    with zipfile.ZipFile(tmp_path / "task.zip") as zf:
        names = sorted(zf.namelist())
        assert names == ["annotations.xml", "images/v1/00002.jpg", "images/v2/00002.jpg", "labels.json"]
    # CVAT's own download: a zip with annotations.xml whose image names carry an extra folder.
    xml = zipfile.ZipFile(tmp_path / "task.zip").read("annotations.xml").replace(
        b'name="v1/', b'name="images/v1/')
    with zipfile.ZipFile(tmp_path / "cvat.zip", "w") as zf:
        zf.writestr("annotations.xml", xml)
    rep = import_cvat(store, tmp_path / "cvat.zip", annotator="ann")
    assert sorted((c.video_id, c.frame_idx, c.correction.status) for c in rep.changes) == [
        ("v1", 1, "confirmed"), ("v2", 1, "confirmed")]
    # Corrected frames leave the review queue: a second flagged export is empty of frames.
    assert export_cvat_task(store, tmp_path / "again", flagged_only=True).n_frames == 0


def _refused(store, xml_path):
    before = _docs(store)
    with pytest.raises(ImportRefused) as err:
        import_cvat(store, xml_path, annotator="ann")
    after = _docs(store)
    assert {v: d.corrected for v, d in after.items()} == {v: d.corrected for v, d in before.items()}
    return err.value.problems


def test_unknown_video_size_mismatch_duplicate_refused(tmp_path):
    store = make_store(tmp_path)
    export_cvat_task(store, tmp_path / "task")
    xml_path = tmp_path / "task" / "annotations.xml"
    tree = ET.parse(xml_path)
    root = tree.getroot()
    images = _images(tree)
    _set_mask(images["v1/00002.jpg"], box_mask((12, 16), 1, 4, 9, 15))  # a valid edit that must not land
    images["v2/00001.jpg"].set("width", "20")
    images["v2/00004.jpg"].set("name", "nosuch/00004.jpg")
    dup = ET.fromstring(ET.tostring(images["v1/00003.jpg"]))
    dup.set("name", "images/v1/00003.jpg")
    root.append(dup)
    tree.write(xml_path)
    problems = _refused(store, xml_path)
    assert len(problems) == 3
    assert any("unknown video 'nosuch'" in p for p in problems)
    assert any("size 20x12 but video v2 is 16x12" in p for p in problems)
    assert any("appears twice" in p for p in problems)


@pytest.mark.parametrize("edit, error", [
    (lambda im: im.find("mask").set("rle", "0, 3"), "rle runs sum to 3"),
    (lambda im: im.find("mask").set("label", "person"), "label 'person'"),
    (lambda im: im.find("mask").find("attribute").__setattr__("text", "7"), "athlete_id '7'"),
    (lambda im: ET.SubElement(im, "tag", {"label": "empty"}), "both an 'empty' tag and a mask"),
    (lambda im: ET.SubElement(im, "box", {"label": "athlete"}), "<box> shapes are not supported"),
])
def test_malformed_edits_refused(tmp_path, edit, error):
    store = make_store(tmp_path)
    export_cvat_task(store, tmp_path / "task")
    xml_path = tmp_path / "task" / "annotations.xml"
    tree = ET.parse(xml_path)
    edit(_images(tree)["v1/00002.jpg"])
    tree.write(xml_path)
    before = _docs(store)
    with pytest.raises(Exception, match=error):
        import_cvat(store, xml_path)
    assert {v: d.corrected for v, d in _docs(store).items()} == {v: d.corrected for v, d in before.items()}


def test_entity_declarations_refused(tmp_path):
    store = make_store(tmp_path)
    p = tmp_path / "evil.xml"
    p.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations>&x;</annotations>')
    with pytest.raises(Exception, match="DOCTYPE/ENTITY"):
        import_cvat(store, p)


def test_empty_frames_and_two_athletes(tmp_path):
    size = (12, 16)
    a = box_mask(size, 1, 5, 1, 5)
    b = box_mask(size, 6, 11, 8, 14)
    empty = np.zeros(size, bool)
    frames = [{1: (a, Quality(), Flag()), 2: (b, Quality(), Flag())},
              {1: (empty, Quality(empty=True), Flag(True, ("empty",))), 2: (b, Quality(), Flag())},
              {1: (empty, Quality(empty=True), Flag()), 2: (empty, Quality(empty=True), Flag())}]
    store = make_store(tmp_path, {"sync": ("5253B", frames)}, size_hw=size, objects=2)
    export_cvat_task(store, tmp_path / "task")
    tree = ET.parse(tmp_path / "task" / "annotations.xml")
    images = _images(tree)
    assert [len(images[f"sync/0000{k}.jpg"].findall("mask")) for k in (1, 2, 3)] == [2, 1, 0]
    assert [t.get("label") for t in images["sync/00003.jpg"].findall("tag")] == ["empty"]
    # Annotator draws athlete 1 in frame 2 (in two pieces), and leaves the rest.
    im2 = images["sync/00002.jpg"]
    for piece in (box_mask(size, 0, 3, 0, 3), box_mask(size, 2, 5, 2, 6)):
        runs, left, top, width, height = coco_rle_to_cvat(mask_to_rle(piece))
        m = ET.SubElement(im2, "mask", {"label": "athlete", "rle": runs, "left": str(left), "top": str(top),
                                        "width": str(width), "height": str(height)})
        ET.SubElement(m, "attribute", {"name": "athlete_id"}).text = "1"
    tree.write(tmp_path / "task" / "annotations.xml")
    import_cvat(store, tmp_path / "task" / "annotations.xml", annotator="ann")
    doc = store.read("sync")
    c = doc.corrected
    assert (c[0][1].status, c[0][2].status) == ("confirmed", "confirmed")
    assert (c[1][1].status, c[1][2].status) == ("edited", "confirmed")
    assert (rle_to_mask(c[1][1].rle) == (box_mask(size, 0, 3, 0, 3) | box_mask(size, 2, 5, 2, 6))).all()
    assert (c[2][1].status, c[2][2].status) == ("empty", "empty")
    assert c[2][1].pseudo_hash == mask_hash(doc.pseudo[2][1].rle)


def test_stale_pseudo_hash_is_kept(tmp_path):
    store = make_store(tmp_path)
    export_cvat_task(store, tmp_path / "task")
    # The pseudo layer of v1 frame 0 is regenerated after the export.
    with store.edit("v1") as doc:
        pm = doc.pseudo[0][1]
        doc.set_pseudo(0, 1, type(pm)(mask_to_rle(box_mask((12, 16), 0, 2, 0, 2)), pm.quality, pm.flag))
    rep = import_cvat(store, tmp_path / "task" / "annotations.xml")
    assert "1 made against an older pseudo mask" in format_import_report(rep)
    doc = store.read("v1")
    assert list(doc.stale_corrections()) == [(0, 1)]
    assert doc.corrected[0][1].status == "edited"  # differs from today's pseudo mask


def test_coco_import_normalises_crowd_rle(tmp_path):
    from pycocotools import mask as cocomask

    store = make_store(tmp_path)
    edited = box_mask((12, 16), 3, 9, 4, 12)
    # CVAT's COCO 1.0: iscrowd=1, uncompressed column-major counts.
    counts = []
    flat = edited.T.ravel()
    value, run = False, 0
    for px in flat:
        if px == value:
            run += 1
        else:
            counts.append(run)
            value, run = px, 1
    counts.append(run)
    poly_mask = store.read("v2").pseudo[0][1].rle
    x, y, w, h = poly_mask.bbox_xywh
    coco = {
        "categories": [{"id": 1, "name": "athlete"}],
        "images": [{"id": 5, "file_name": "v1/00001.jpg", "width": 16, "height": 12},
                   {"id": 6, "file_name": "v1/00002.jpg", "width": 16, "height": 12},
                   {"id": 7, "file_name": "v2/00001.jpg", "width": 16, "height": 12}],
        "annotations": [
            {"id": 1, "image_id": 5, "category_id": 1, "iscrowd": 1,
             "segmentation": {"counts": counts, "size": [12, 16]}, "attributes": {"athlete_id": "1", "occluded": False}},
            # A polygon drawn over the pseudo box of v2 frame 0 (pixel corners).
            {"id": 2, "image_id": 7, "category_id": 1, "iscrowd": 0,
             "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]], "attributes": {"athlete_id": 1}},
        ]}
    (tmp_path / "export" / "annotations").mkdir(parents=True)
    (tmp_path / "export" / "annotations" / "instances_default.json").write_text(json.dumps(coco))
    rep = import_cvat(store, tmp_path / "export", annotator="ann")
    got = {(c.video_id, c.frame_idx): c.correction for c in rep.changes}
    assert got[("v1", 0)].status == "edited" and (rle_to_mask(got[("v1", 0)].rle) == edited).all()
    assert got[("v1", 1)].status == "empty"
    assert got[("v2", 0)].rle.area == poly_mask.area
    assert cocomask.area(got[("v1", 0)].rle.to_coco()) == edited.sum()
    # Runs that do not sum to H*W are refused.
    coco["annotations"][0]["segmentation"]["counts"] = counts[:-1]
    (tmp_path / "export" / "annotations" / "instances_default.json").write_text(json.dumps(coco))
    with pytest.raises(Exception, match="runs sum to"):
        import_cvat(store, tmp_path / "export")


def test_hostile_zip_import_refused(tmp_path):
    store = make_store(tmp_path)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("annotations.xml", "<annotations/>")
        zf.writestr("../../escape.txt", "x")
    with pytest.raises(Exception, match="escapes the target folder"):
        import_cvat(store, tmp_path / "evil.zip")
    assert not (tmp_path / "escape.txt").exists()


def test_commands_export_edit_import(tmp_path):
    from click.testing import CliRunner

    from cli import hmtools

    store = make_store(tmp_path)
    runner = CliRunner()
    res = runner.invoke(hmtools, ["export-cvat", "--store", str(store.root), str(tmp_path / "task"), "--video", "v1"])
    assert res.exit_code == 0, res.output
    assert "4 frame(s) of 1 video(s), 4 mask(s)" in res.output
    xml_path = tmp_path / "task" / "annotations.xml"
    tree = ET.parse(xml_path)
    images = _images(tree)
    _set_mask(images["v1/00003.jpg"], box_mask((12, 16), 0, 3, 0, 3))
    tree.write(xml_path)
    res = runner.invoke(hmtools, ["import-cvat", "--store", str(store.root), str(xml_path), "--dry-run"])
    assert res.exit_code == 0 and "edited 1: 00003.jpg#1" in res.output and "dry run" in res.output
    assert store.read("v1").corrected == [None] * 4
    res = runner.invoke(hmtools, ["import-cvat", "--store", str(store.root), str(xml_path), "--annotator", "ann"])
    assert res.exit_code == 0 and "1 edited, 3 confirmed, 0 empty" in res.output
    # Two problems: each printed on its own line, a one-line error, exit status 1, nothing written.
    images["v1/00001.jpg"].set("name", "nosuch/00001.jpg")
    images["v1/00002.jpg"].set("height", "99")
    tree.write(xml_path)
    before = store.read("v1").corrected
    res = runner.invoke(hmtools, ["import-cvat", "--store", str(store.root), str(xml_path)])
    assert res.exit_code == 1
    assert "unknown video 'nosuch'" in res.output and "size 16x99" in res.output
    assert "Traceback" not in res.output and "nothing was written" in res.output
    assert store.read("v1").corrected == before


def test_commands_export_edit_import_propagate(tmp_path):
    """The loop through the real commands: export-cvat, one edit, import-cvat --propagate; the
    neighbouring frames' masks improve, the corrected frame keeps its pseudo mask."""
    from click.testing import CliRunner
    from helpers.pseudo_clips import square_clip

    from cli import hmtools
    from hmtools.store import MaskStore, PseudoMask, VideoDoc

    folder = tmp_path / "frames" / "sq"
    truth = square_clip(folder, n=10)
    names = sorted(p.name for p in folder.iterdir())
    store = MaskStore.create(tmp_path / "store")
    doc = VideoDoc.new("sq", truth[0].shape, names, source=str(folder))
    for i in range(10):  # the athlete lost everywhere; frame 5 flagged for review
        flag = Flag(True, ("low_score",)) if i == 5 else Flag()
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(box_mask(truth[0].shape, 34, 44, 40, 60)), Quality(score=0.5), flag))
    store.write(doc)

    def ious(d):
        return [_iou(rle_to_mask(d.layer_mask("effective", i)).astype(bool), truth[i]) for i in range(10)]

    before = ious(store.read("sq"))
    runner = CliRunner()
    res = runner.invoke(hmtools, ["export-cvat", "--store", str(store.root), str(tmp_path / "task"), "--flagged-only"])
    assert res.exit_code == 0, res.output
    xml_path = tmp_path / "task" / "annotations.xml"
    tree = ET.parse(xml_path)
    images = _images(tree)
    assert list(images) == [f"sq/{names[5]}"]
    _set_mask(images[f"sq/{names[5]}"], truth[5])
    tree.write(xml_path)
    res = runner.invoke(hmtools, ["import-cvat", "--store", str(store.root), str(xml_path), "--propagate",
                                  "--tracker", "none"])
    assert res.exit_code == 0, res.output
    assert "1 edited" in res.output and "propagate shard 0/1: 1 done" in res.output
    doc = store.read("sq")
    after = ious(doc)
    assert after[5] == 1.0 and max(before) < 0.05
    assert min(after[3:]) > 0.7 and min(after[4], after[6]) > 0.9, after
    # frames 0-2 are nearer the producer's start, but its masks there score lower than the run's
    assert min(after[:3]) > 0.6, after
    assert doc.pseudo_mask(5, 1).anchor is None and doc.pseudo_mask(4, 1).anchor == names[5]
    assert not doc.is_stale(5, 1)


def _iou(a, b):
    u = np.count_nonzero(a | b)
    return 1.0 if u == 0 else np.count_nonzero(a & b) / u
