"""FineDiving-HM folders: import by name, bad folders rejected with one line, export round trips."""

import os
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from hmtools.errors import StoreError
from hmtools.formats.finediving_hm import hm_folder, mask_to_hm_image, read_hm_mask
from hmtools.workflows.finediving_hm import VideoTarget, export_hm, import_hm, import_targets, target_from_doc
from hmtools.rle import mask_to_rle, rle_to_mask
from hmtools.store import MaskStore, PseudoMask, VideoDoc

from helpers.finediving_fixture import (META_SKIP_REASON, build_finediving_fixture, finediving_meta_records,
                                        meta_available)

H, W = 8, 12
FRAMES = ("00489.jpg", "00490.jpg", "00491.jpg")
VID = "FINADivingWorldCup2021_Men3m_final_r1__7"


def frame_mask(i, hw=(H, W)):
    """An asymmetric mask per frame index (a transposed import would not match)."""
    h, w = hw
    m = np.zeros(hw, bool)
    m[h // 8 * (i % 2): h // 2 + i, w // 4: w // 4 + 2 * (i + 1)] = True
    return m


def write_folder(root, video_id=VID, frames=FRAMES, hw=(H, W), ext=".png", channels=1, skip=(), extra=()):
    folder = hm_folder(root, video_id)
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(frames):
        if name in skip:
            continue
        img = frame_mask(i, hw).astype(np.uint8) * 255
        if channels == 3:
            img = np.repeat(img[:, :, None], 3, axis=2)
        cv2.imwrite(str(folder / (Path(name).stem + ext)), img)
    for name in extra:
        (folder / name).write_bytes(cv2.imencode(".png", np.zeros(hw, np.uint8))[1].tobytes())
    return folder


def target(video_id=VID, frames=FRAMES):
    return VideoTarget(video_id, (H, W), tuple(frames), {"dataset": "finediving", "action_type": "107B",
                                                         "split": "train", "synchronized": False})


@pytest.fixture
def store(tmp_path):
    return MaskStore.create(tmp_path / "store")


@pytest.mark.parametrize("ext,channels", [(".png", 1), (".png", 3), (".jpg", 1), (".jpg", 3)])
def test_import_pairs_by_name_into_the_pseudo_layer(store, tmp_path, ext, channels):
    write_folder(tmp_path / "hm", ext=ext, channels=channels)
    # The target lists frames in another order than the files sort: pairing must follow names.
    order = (FRAMES[1], FRAMES[0], FRAMES[2])
    rep = import_hm(store, tmp_path / "hm", [target(frames=order)], layer="pseudo", workers=1, progress=False)
    assert rep.ok and rep.imported == [VID] and rep.masks == 3
    doc = store.read(VID)
    assert doc.frames == order and doc.producer.backend == "import-hm"
    for i, name in enumerate(order):
        src = FRAMES.index(name)
        assert np.array_equal(rle_to_mask(doc.effective(i)), frame_mask(src)), name
    assert doc.action_type == "107B" and doc.split == "train"


def test_smaller_masks_are_resized_and_the_size_recorded(store, tmp_path):
    write_folder(tmp_path / "hm", hw=(H // 2, W // 2))
    rep = import_hm(store, tmp_path / "hm", [target()], layer="pseudo", workers=1, progress=False)
    assert rep.ok
    doc = store.read(VID)
    assert doc.producer.params["source_size_hw"] == [H // 2, W // 2]
    small = frame_mask(0, (H // 2, W // 2))
    expected = cv2.resize(small.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST) > 0
    assert np.array_equal(rle_to_mask(doc.effective(0)), expected)


def test_corrected_layer_over_two_athletes(store, tmp_path):
    doc = VideoDoc.new(VID, (H, W), FRAMES, objects=2, synchronized=True)
    doc.set_pseudo(0, 1, PseudoMask(mask_to_rle(np.ones((H, W), bool))))
    doc.set_pseudo(0, 2, PseudoMask(mask_to_rle(np.ones((H, W), bool))))
    store.write(doc)
    write_folder(tmp_path / "hm")
    rep = import_hm(store, tmp_path / "hm", [target_from_doc(doc)], layer="corrected", by="Alice",
                    workers=1, progress=False)
    assert rep.ok
    doc = store.read(VID)
    c1, c2 = doc.corrected[0][1], doc.corrected[0][2]
    assert (c1.status, c1.by, c1.tool, c2.status) == ("edited", "Alice", "import-hm", "empty")
    assert c1.pseudo_hash is not None and list(doc.stale_corrections()) == []
    for i in range(3):
        assert np.array_equal(rle_to_mask(doc.effective(i)), frame_mask(i))
    # A second import needs --overwrite.
    rep = import_hm(store, tmp_path / "hm", [target_from_doc(doc)], layer="corrected", workers=1, progress=False)
    assert not rep.ok and "--overwrite" in rep.failed[0]
    assert import_hm(store, tmp_path / "hm", [target_from_doc(doc)], layer="corrected", overwrite=True,
                     workers=1, progress=False).ok


def test_corrected_import_over_the_same_pseudo_masks_is_confirmed(store, tmp_path):
    """The store's one status rule: a corrected mask equal to the pseudo mask is ``confirmed``.

    Behaviour change (issue 10): import-hm used to write ``edited`` here; it never wrote ``confirmed``.
    """
    write_folder(tmp_path / "hm")
    assert import_hm(store, tmp_path / "hm", [target()], layer="pseudo", workers=1, progress=False).ok
    assert import_hm(store, tmp_path / "hm", [target()], layer="corrected", workers=1, progress=False).ok
    doc = store.read(VID)
    assert [doc.correction(i, 1).status for i in range(3)] == ["confirmed"] * 3
    assert list(doc.stale_corrections()) == []


def _corrupt_png(folder):
    (folder / "00490.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")


def _truncated_jpg(folder):
    data = (folder / "00490.jpg").read_bytes()
    (folder / "00490.jpg").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("make,message", [
    (lambda r: write_folder(r, extra=("00492.png",)), r"1 file\(s\) matching no frame \(00492.png\)"),
    # misnamed: no file names a frame, so the gaps do not excuse them
    (lambda r: write_folder(r, frames=("489.jpg", "490.jpg", "491.jpg")), r"3 file\(s\) matching no frame"),
    (lambda r: write_folder(r, extra=("notes.txt",)), "not a mask image.*notes.txt"),
    (lambda r: write_folder(r, extra=("00490.jpg",)), "two mask files for the same frame"),
    (lambda r: write_folder(r, hw=(H, W + 4)), r"mask is 8x16 \(HxW\) but the video is 8x12.*aspect"),
    (lambda r: _corrupt_png(write_folder(r)), "00490.png: truncated PNG"),
    (lambda r: _truncated_jpg(write_folder(r, ext=".jpg")), "00490.jpg: truncated JPEG"),
])
def test_bad_folders_fail_with_one_line_and_leave_the_store_unchanged(store, tmp_path, make, message):
    existing = VideoDoc.new(VID, (H, W), FRAMES)
    store.write(existing)
    before = store.path(VID).read_bytes()
    make(tmp_path / "hm")
    rep = import_hm(store, tmp_path / "hm", [target()], layer="pseudo", workers=1, progress=False)
    assert not rep.ok and rep.imported == [] and len(rep.failed) == 1
    assert re.search(message, rep.failed[0]), rep.failed[0]
    assert "\n" not in rep.failed[0] and str(tmp_path / "hm") in rep.failed[0]
    assert store.path(VID).read_bytes() == before


def test_frames_without_a_mask_file_are_left_not_annotated_unless_strict(store, tmp_path):
    write_folder(tmp_path / "hm", skip=("00490.jpg",))
    rep = import_hm(store, tmp_path / "hm", [target()], layer="pseudo", workers=1, progress=False)
    assert rep.ok and rep.imported == [VID] and rep.masks == 2 and rep.gaps == {VID: 1}
    assert rep.gap_lines() == [f"{VID}: 1 frame(s) without a mask file, left not annotated"]
    assert rep.summary().endswith("; 1 frames of 1 videos have no mask file")
    doc = store.read(VID)
    assert [doc.effective(i) is None for i in range(3)] == [False, True, False]  # null, not empty
    strict = import_hm(store, tmp_path / "hm", [target()], layer="pseudo", overwrite=True, strict=True,
                       workers=1, progress=False)
    assert not strict.ok and re.search(r"1 frame\(s\) without a mask \(00490.jpg\)", strict.failed[0])


def test_paths_outside_the_root_are_refused(store, tmp_path):
    outside = write_folder(tmp_path / "elsewhere")
    root = tmp_path / "hm"
    (root / "FINADivingWorldCup2021_Men3m_final_r1").mkdir(parents=True)
    os.symlink(outside, root / "FINADivingWorldCup2021_Men3m_final_r1" / "7")
    rep = import_hm(store, root, [target()], layer="pseudo", workers=1, progress=False)
    assert not rep.ok and "outside the mask root" in rep.failed[0] and VID not in store
    # a symlinked file inside a real folder
    folder = write_folder(tmp_path / "hm2", skip=("00490.jpg",))
    os.symlink(outside / "00490.png", folder / "00490.png")
    rep = import_hm(store, tmp_path / "hm2", [target()], layer="pseudo", workers=1, progress=False)
    assert not rep.ok and "outside the mask root" in rep.failed[0]


def test_other_videos_go_on_and_unmatched_folders_are_reported(store, tmp_path):
    write_folder(tmp_path / "hm")
    write_folder(tmp_path / "hm", video_id="01__3", skip=("00491.jpg",))
    write_folder(tmp_path / "hm", video_id="99__1")
    write_folder(tmp_path / "hm", video_id="99__2")
    targets = [target(), target("01__3"), target("02__5")]
    rep = import_hm(store, tmp_path / "hm", targets, layer="pseudo", workers=2, strict=True, progress=False)
    assert rep.imported == [VID] and rep.no_folder == ["02__5"]
    assert len(rep.failed) == 2
    assert any("01/3: 1 frame(s) without a mask" in f for f in rep.failed)
    # one line for all unmatched folders
    assert any("2 mask folder(s) match no video to import into (99/1, 99/2) -- misnamed" in f for f in rep.failed)
    assert "01__3" not in store
    # a video whose target failed (reported by import_targets) is not "unmatched" a second time
    again = import_hm(store, tmp_path / "hm", [target()], layer="pseudo", overwrite=True,
                      known_ids=["01__3", "99__1", "99__2"], workers=1, progress=False)
    assert again.ok


def test_an_empty_store_gets_one_line_with_the_dataset_hint(tmp_path):
    for k in range(5):
        write_folder(tmp_path / "hm", video_id=f"01__{k}")
    rep = import_hm(MaskStore.create(tmp_path / "s"), tmp_path / "hm", [], workers=1, progress=False)
    (line,) = rep.failed
    assert "5 mask folder(s) match no video" in line and "pass --dataset and --data-root" in line


def test_read_hm_mask_threshold_is_half():
    path_img = np.array([[0, 127, 128, 255]], np.uint8)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.png"
        cv2.imwrite(str(p), path_img)
        mask, src = read_hm_mask(p, (1, 4))
    assert mask.tolist() == [[False, False, True, True]] and src == (1, 4)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_export_then_import_round_trip(store, tmp_path, fmt):
    doc = VideoDoc.new(VID, (H, W), FRAMES, objects=2)
    for i in range(2):
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(frame_mask(i))))
    doc.set_pseudo(1, 2, PseudoMask(mask_to_rle(np.eye(H, W, dtype=bool))))
    store.write(doc)
    rep = export_hm(store, tmp_path / "out", fmt=fmt, missing="skip", progress=False)
    assert (rep.videos, rep.files, rep.frames_without_mask) == (1, 2, 1)
    folder = tmp_path / "out" / "FINADivingWorldCup2021_Men3m_final_r1" / "7"
    assert sorted(p.name for p in folder.iterdir()) == [f"00489.{fmt}", f"00490.{fmt}"]
    img = cv2.imread(str(folder / f"00490.{fmt}"), cv2.IMREAD_UNCHANGED)
    assert img.ndim == 2 and img.shape == (H, W)
    # frames without a mask become black files with missing="empty" (the official loader's pairing)
    export_hm(store, tmp_path / "out", fmt=fmt, missing="empty", progress=False)
    other = MaskStore.create(tmp_path / "other")
    back = import_hm(other, tmp_path / "out", [target()], layer="corrected", workers=1, progress=False)
    assert back.ok
    got = other.read(VID)
    for i in range(3):
        want = doc.effective(i)
        want = rle_to_mask(want) if want is not None else np.zeros((H, W), bool)
        assert np.array_equal(rle_to_mask(got.effective(i)), want), i
    assert got.corrected[2][1].status == "empty"


def test_a_failed_export_over_an_earlier_one_leaves_its_files_whole(store, tmp_path, monkeypatch):
    import errno

    import hmtools.atomic

    doc = VideoDoc.new(VID, (H, W), FRAMES, objects=1)
    for i in range(3):
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(frame_mask(i))))
    store.write(doc)
    export_hm(store, tmp_path / "out", fmt="png", progress=False)
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*.png")}
    doc.set_pseudo(0, 1, PseudoMask(mask_to_rle(np.eye(H, W, dtype=bool))))  # the next export differs
    store.write(doc)

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hmtools.atomic.os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_hm(store, tmp_path / "out", fmt="png", progress=False)
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before


def test_export_refuses_to_write_into_the_store(store):
    with pytest.raises(StoreError, match="refusing to export into the mask store"):
        export_hm(store, store.root / "hm", progress=False)


def test_mask_to_hm_image_is_single_channel_0_255():
    img = cv2.imdecode(np.frombuffer(mask_to_hm_image(frame_mask(1), "png"), np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and set(np.unique(img)) == {0, 255}


@pytest.mark.skipif(not meta_available(), reason=META_SKIP_REASON)
def test_import_from_the_dataset_reader_and_the_cli(tmp_path):
    import cli

    vid = "01__10"
    records = [r for r in finediving_meta_records() if r["video_id"] == vid]
    data_root = build_finediving_fixture(tmp_path / "fd", video_ids=[vid], images=True, records=records)
    from hmtools.datasets import open_dataset

    sample = open_dataset("finediving", data_root).sample(vid)
    hm_root = tmp_path / "hm"
    write_folder(hm_root, video_id=vid, frames=sample.frame_names, hw=(2, 2))
    store = MaskStore.create(tmp_path / "store")
    targets, problems, _ = import_targets(store, "finediving", data_root, video_ids=[vid])
    assert problems == [] and targets[0].size_hw == (2, 2) and targets[0].frames == sample.frame_names
    result = CliRunner().invoke(cli.hmtools, [
        "import-hm", "--store", str(store.root), "--masks", str(hm_root), "--dataset", "finediving",
        "--data-root", str(data_root), "--video", vid, "--layer", "pseudo"])
    assert result.exit_code == 0, result.output
    doc = store.read(vid)
    assert doc.n_frames == sample.num_frames and doc.action_type == sample.action_type
    assert doc.key == [sample.key[0], sample.key[1]] and doc.dataset == "finediving"
    assert sum(1 for i in range(doc.n_frames) if doc.effective(i) is not None) == sample.num_frames
    # A gap through the CLI: the count per video, exit 0; with --strict one line on stderr,
    # exit 1, document unchanged.
    before = store.path(vid).read_bytes()
    first = hm_folder(hm_root, vid) / (Path(sample.frame_names[0]).stem + ".png")
    first.unlink()
    gap = CliRunner().invoke(cli.hmtools, ["import-hm", "--store", str(store.root), "--masks", str(hm_root),
                                           "--layer", "pseudo", "--overwrite"])
    assert gap.exit_code == 0 and f"{vid}: 1 frame(s) without a mask file" in gap.output
    store.path(vid).write_bytes(before)
    bad = CliRunner().invoke(cli.hmtools, ["import-hm", "--store", str(store.root), "--masks", str(hm_root),
                                           "--layer", "pseudo", "--overwrite", "--strict"])
    assert bad.exit_code == 1
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "without a mask" in errors[0]
    assert store.path(vid).read_bytes() == before
    out = CliRunner().invoke(cli.hmtools, ["export-hm", "--store", str(store.root), "--out",
                                           str(tmp_path / "exp"), "--format", "jpg"])
    assert out.exit_code == 0 and f"wrote {sample.num_frames} mask files" in out.output


def test_command_dataset_kinds_come_from_the_reader_registry():
    import importlib

    from hmtools.commands.import_hm import import_hm
    from hmtools.commands.pseudo_mask import pseudo_mask
    from hmtools.datasets import DATASET_KINDS, DATASET_READERS

    assert DATASET_KINDS == ("finediving", "synthetic", "mtlaqa", "aqa7")
    for module, name, sampling in DATASET_READERS.values():
        assert callable(getattr(importlib.import_module(module), name)) and sampling in ("spread", "first", "last")
    for command in (import_hm, pseudo_mask):
        choice = next(p.type for p in command.params if p.name == "dataset")
        assert tuple(choice.choices) == DATASET_KINDS
