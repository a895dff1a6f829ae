"""hmtools.store.index: rows, incremental rebuilds, crash consistency, stale-index errors."""

import json

import numpy as np
import pytest

from hmtools.errors import StoreError
from hmtools.rle import empty_rle, mask_to_rle, rle_from_counts, rle_to_mask
from hmtools.store import Correction, Flag, MaskStore, PseudoMask, Quality, VideoDoc, mask_hash
from hmtools.store import index as index_mod
from hmtools.store.index import (FRAMES_FILE, MANIFEST_FILE, MASKS_FILE, build_index, index_is_current,
                                 load_frames_index, load_masks_index)


def box(y0, y1, x0, x1):
    m = np.zeros((4, 4), bool)
    m[y0:y1, x0:x1] = True
    return mask_to_rle(m)


def sync_doc(video_id="Synchro3m__1"):
    """3 frames, 2 athletes: frame 0 pseudo for both (one flagged), frame 1 athlete 1 corrected
    (mixed), frame 2 not annotated."""
    doc = VideoDoc.new(video_id, (4, 4), ["a.jpg", "b.jpg", "c.jpg"], objects=2, dataset="finediving",
                       action_type="5253B", split="test", synchronized=True, event="synchronized")
    doc.set_pseudo(0, 1, PseudoMask(box(0, 2, 0, 2), Quality(score=0.5), Flag(True, ("low_score", "jump"))))
    doc.set_pseudo(0, 2, PseudoMask(box(2, 4, 2, 4), Quality(score=0.9)))
    doc.set_pseudo(1, 1, PseudoMask(box(0, 1, 0, 4)))
    doc.set_pseudo(1, 2, PseudoMask(box(3, 4, 0, 4)))
    doc.set_correction(1, 1, Correction(box(0, 2, 0, 4), "edited", "ann", "t", "cvat",
                                        pseudo_hash=mask_hash(box(0, 1, 0, 1))))   # stale on purpose
    return doc


def single_doc(video_id, n=2, area_rows=1):
    doc = VideoDoc.new(video_id, (4, 4), [f"{i:05d}.jpg" for i in range(n)], dataset="finediving",
                       action_type="107B", split="train", synchronized=False, event="individual")
    for i in range(n):
        doc.set_pseudo(i, 1, PseudoMask(box(0, area_rows, 0, 4)))
    return doc


@pytest.fixture
def store(tmp_path):
    s = MaskStore.create(tmp_path / "store")
    s.write(sync_doc())
    s.write(single_doc("01__1"))
    s.write(single_doc("01__2", n=3))
    return s


def test_rows_of_masks_and_frames(store):
    stats = build_index(store, progress=False)
    assert stats.full and stats.n_docs == 3
    masks = load_masks_index(store).to_pylist()
    frames = {(r["video_id"], r["frame_idx"]): r for r in load_frames_index(store).to_pylist()}
    # masks: 4 pseudo + 1 corrected for the sync doc, 2 + 3 pseudo for the others
    assert len(masks) == 10
    corr = [r for r in masks if r["layer"] == "corrected"]
    assert len(corr) == 1 and corr[0]["status"] == "edited" and corr[0]["stale"] is True
    flagged = [r for r in masks if r["review"]]
    assert len(flagged) == 1 and flagged[0]["reasons"] == "low_score,jump" and flagged[0]["score"] == 0.5
    # counts decode to the document's masks (training reads RLEs from here)
    r = next(r for r in masks if (r["video_id"], r["frame_idx"], r["object_id"], r["layer"]) ==
             ("Synchro3m__1", 0, 2, "pseudo"))
    rle = rle_from_counts(r["counts"].decode(), (r["height"], r["width"]))
    assert np.array_equal(rle_to_mask(rle), rle_to_mask(box(2, 4, 2, 4)))
    assert (r["bbox_x"], r["bbox_y"], r["bbox_w"], r["bbox_h"], r["area"]) == (2, 2, 2, 2, 4)
    # frames: effective union, source, flagged; frame 2 of the sync doc has no row
    f0, f1 = frames[("Synchro3m__1", 0)], frames[("Synchro3m__1", 1)]
    assert (f0["area"], f0["source"], f0["flagged"], f0["n_objects"]) == (8, "pseudo", True, 2)
    assert f0["fg_ratio"] == pytest.approx(0.5)
    assert (f1["area"], f1["source"], f1["pseudo_area"], f1["corrected_area"]) == (12, "mixed", 8, 8)
    assert ("Synchro3m__1", 2) not in frames
    assert len(frames) == 2 + 2 + 3
    assert f0["synchronized"] is True and f0["action_type"] == "5253B" and f0["split"] == "test"


def test_incremental_rebuild_reads_only_changed_documents(store, monkeypatch):
    build_index(store, progress=False)
    read = []
    real = index_mod._tables_of
    monkeypatch.setattr(index_mod, "_tables_of", lambda paths: (read.extend(paths), real(paths))[1])

    stats = build_index(store, progress=False)
    assert stats.up_to_date and read == []

    store.write(single_doc("01__1", n=2, area_rows=3))      # same size on disk, new content
    store.write(single_doc("02__7"))
    stats = build_index(store, workers=1, progress=False)
    assert (stats.changed, stats.added, stats.removed) == (["01__1"], ["02__7"], [])
    assert sorted(p.rsplit("/", 1)[1] for p in read) == ["01__1.json", "02__7.json"]
    frames = load_frames_index(store, refresh=False).to_pylist()
    assert {r["area"] for r in frames if r["video_id"] == "01__1"} == {12}
    assert len(frames) == 9

    read.clear()
    store.delete("01__2")
    stats = build_index(store, progress=False)
    assert stats.removed == ["01__2"] and read == []
    ids = set(load_masks_index(store, refresh=False)["video_id"].to_pylist())
    assert ids == {"Synchro3m__1", "01__1", "02__7"}


def test_parallel_build_gives_the_same_tables(store):
    for i in range(5):
        store.write(single_doc(f"03__{i}", n=4))
    build_index(store, workers=1, progress=False, full=True)
    one = load_masks_index(store, refresh=False), load_frames_index(store, refresh=False)
    build_index(store, workers=2, progress=False, full=True)
    two = load_masks_index(store, refresh=False), load_frames_index(store, refresh=False)
    assert one[0].equals(two[0]) and one[1].equals(two[1])


def test_generation_mismatch_after_a_crash_forces_a_full_rebuild(store):
    build_index(store, progress=False)
    manifest_path = store.index_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text())
    manifest["generation"] = "0" * 32          # as if the crash came before the manifest's replace
    manifest_path.write_text(json.dumps(manifest))
    assert not index_is_current(store)
    stats = build_index(store, progress=False)
    assert stats.full and stats.n_frame_rows == 7


def test_corrupt_document_leaves_the_old_index(store):
    build_index(store, progress=False)
    before = {n: (store.index_dir / n).read_bytes() for n in (MASKS_FILE, FRAMES_FILE, MANIFEST_FILE)}
    bad = store.path("01__2")
    bad.write_text(bad.read_text()[:100])
    with pytest.raises(StoreError, match=r"01__2\.json: corrupt or truncated JSON"):
        build_index(store, progress=False)
    assert {n: (store.index_dir / n).read_bytes() for n in before} == before
    assert not [p for p in store.index_dir.iterdir() if p.name.endswith(".tmp")]


def test_stale_index_without_refresh_is_a_clear_error(store):
    with pytest.raises(StoreError, match="hmtools index --store"):
        load_frames_index(store, refresh=False)
    build_index(store, progress=False)
    store.write(single_doc("09__9"))
    with pytest.raises(StoreError, match="older than the documents"):
        load_masks_index(store, refresh=False)
    assert load_frames_index(store).num_rows == 9       # refresh=True brings it up to date


def test_empty_store_and_empty_masks(tmp_path):
    s = MaskStore.create(tmp_path / "s")
    stats = build_index(s, progress=False)
    assert stats.n_frame_rows == 0 and load_frames_index(s).num_rows == 0
    doc = VideoDoc.new("x", (4, 4), ["a.jpg"])
    doc.set_correction(0, 1, Correction(empty_rle((4, 4)), "empty", "ann", "t", "web"))
    s.write(doc)
    row = load_frames_index(s).to_pylist()[0]
    assert (row["area"], row["fg_ratio"], row["source"], row["pseudo_area"]) == (0, 0.0, "corrected", None)


def test_init_and_index_commands(tmp_path):
    from click.testing import CliRunner

    import cli

    runner = CliRunner()
    root = tmp_path / "cli_store"
    first = runner.invoke(cli.hmtools, ["init", str(root)])
    assert first.exit_code == 0 and "created an empty mask store" in first.output
    again = runner.invoke(cli.hmtools, ["init", str(root)])
    assert again.exit_code == 0 and "already a mask store (0 documents)" in again.output
    s = MaskStore.open(root)
    s.write(single_doc("01__1"))
    built = runner.invoke(cli.hmtools, ["index", "--store", str(root), "--quiet"])
    assert built.exit_code == 0 and "1 added" in built.output and "2 frames with masks" in built.output
    s.write(single_doc("01__1", area_rows=2))
    changed = runner.invoke(cli.hmtools, ["index", "--store", str(root), "--quiet"])
    assert "changed: 01__1" in changed.output and "1 changed" in changed.output
    missing = runner.invoke(cli.hmtools, ["index", "--store", str(tmp_path / "nope")])
    assert missing.exit_code != 0 and "no such mask store" in missing.output


def test_index_command_on_a_corrupt_document_is_one_line_and_exit_1(store):
    from click.testing import CliRunner

    import cli

    store.path("01__1").write_text('{"schema_version": 1')
    result = CliRunner().invoke(cli.hmtools, ["index", "--store", str(store.root), "--quiet"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "01__1.json: corrupt or truncated JSON" in lines[0]
    assert not (store.index_dir / MASKS_FILE).exists()
