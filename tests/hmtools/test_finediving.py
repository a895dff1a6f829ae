import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers.finediving_fixture import (META_SKIP_REASON, build_finediving_fixture,
                                        finediving_meta_records, frame_names, meta_available,
                                        write_annotations, write_frames)

from hmtools.datasets import open_dataset
from hmtools.datasets.finediving import (AQA_PKL, COARSE_PKL, FINE_PKL, transitions_from_labels,
                                         transitions_from_steps)
from hmtools.errors import DatasetError

pytestmark = pytest.mark.skipif(not meta_available(), reason=META_SKIP_REASON)

# Two whole competitions (one synchronized) plus clips of "01" (01__121 has an event at frame 0).
COMPETITIONS = ("Diving_FullWomenSynchronised3mSpringboard-final_Tokyo2020Replays_4",
                "FINAWorldChampionships2019_Men10m_final_r1")
CLIPS = ("01__10", "01__121", "01__1", "01__11", "01__9")


def _subset():
    return [r for r in finediving_meta_records()
            if r["competition"] in COMPETITIONS or r["video_id"] in CLIPS]


@pytest.fixture(scope="module")
def subset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("finediving")
    records = _subset()
    write_annotations(root / "Annotations", records)
    for record in records:
        write_frames(root / "FINADiving_MTL_256s", record)
    return root


@pytest.fixture
def small_root(tmp_path):
    """Four clips (3 train, 1 test) in a fresh folder a test may damage."""
    records = [dict(r, split="train") for r in _subset() if r["competition"] == "01"][:4]
    records[-1]["split"] = "test"
    write_annotations(tmp_path / "Annotations", records)
    for record in records:
        write_frames(tmp_path / "FINADiving_MTL_256s", record)
    return tmp_path, records


def test_samples_match_metadata(subset_root):
    ds = open_dataset("finediving", subset_root, on_defect="fail")
    expected = {r["video_id"]: r for r in _subset()}
    assert ds.name == "finediving" and ds.defects == []
    assert {s.video_id for s in ds.samples()} == set(expected)
    for sample in ds.samples():
        r = expected[sample.video_id]
        assert sample.key == (r["competition"], r["idx"])
        assert sample.action_type == r["action_type"] and sample.action_type.isupper()
        assert sample.score == r["score"] and sample.difficulty == r["difficulty"]
        assert sample.transitions == r["transitions"]
        assert sample.split == r["split"]
        assert sample.synchronized == r["synchronized"]
        assert sample.event == ("synchronized" if r["synchronized"] else "individual")
        assert list(sample.frame_names) == frame_names(r)
        assert all(p.is_relative_to(subset_root.resolve()) for p in sample.frame_paths)
    assert ds.sample("01__121").transitions == (37,)  # the event at frame 0 is no transition
    assert ds.sample("01__10").transitions == (23, 63)  # as in the metadata
    split_counts = {s: len(ds.samples(s)) for s in ("train", "test")}
    assert split_counts == {s: sum(r["split"] == s for r in _subset()) for s in ("train", "test")}
    assert any(s.synchronized for s in ds.samples()) and not all(s.synchronized for s in ds.samples())


@pytest.mark.parametrize("keep,has_transitions", [
    ((COARSE_PKL,), False), ((FINE_PKL,), True), ((AQA_PKL,), True), ((COARSE_PKL, AQA_PKL), True),
])
def test_each_annotation_variant_alone(small_root, keep, has_transitions):
    root, records = small_root
    for name in (COARSE_PKL, FINE_PKL, AQA_PKL):
        if name not in keep:
            (root / "Annotations" / name).unlink()
    ds = open_dataset("finediving", root, on_defect="fail")
    assert len(ds.samples()) == 4 and len(ds.samples("test")) == 1
    for sample, record in zip(sorted(ds.samples(), key=lambda s: s.key), sorted(
            records, key=lambda r: (r["competition"], r["idx"]))):
        assert (sample.action_type, sample.score, sample.difficulty) == (
            record["action_type"], record["score"], record["difficulty"])
        assert sample.transitions == (record["transitions"] if has_transitions else ())


def test_steps_transit_frames_read_as_absolute_frame_numbers(small_root):
    root, records = small_root
    path = root / "Annotations" / FINE_PKL
    data = pickle.loads(path.read_bytes())
    for entry in data.values():
        del entry["frames_labels"]
    path.write_bytes(pickle.dumps(data))
    (root / "Annotations" / AQA_PKL).unlink()
    ds = open_dataset("finediving", root)
    for record in records:
        assert ds.sample(record["video_id"]).transitions == record["transitions"]


def test_transition_helpers():
    assert transitions_from_labels([2, 2, 31, 31, 15, 36, 36]) == (2, 4, 5)
    assert transitions_from_labels([36]) == ()
    assert transitions_from_steps([512, 552], 489, 104) == (23, 63)
    assert transitions_from_steps([23, 63], 489, 104) == (23, 63)  # already relative
    assert transitions_from_steps([489, 700], 489, 104) == ()  # 0 and past the end dropped


def _damage(root: Path, records):
    frames = root / "FINADiving_MTL_256s"
    first, second, third = records[0], records[1], records[2]
    folder = frames / first["competition"] / str(first["idx"])
    sorted(folder.iterdir())[-1].unlink()                       # label length != frame count
    shutil.rmtree(frames / second["competition"] / str(second["idx"]))   # missing folder
    for f in (frames / third["competition"] / str(third["idx"])).iterdir():
        f.unlink()                                                # empty folder
    return first["video_id"], second["video_id"], third["video_id"]


def test_defects_warn_and_skip(small_root, caplog):
    root, records = small_root
    short, missing, empty = _damage(root, records)
    with caplog.at_level(logging.WARNING, logger="hmtools.datasets"):
        ds = open_dataset("finediving", root, on_defect="warn")
    assert [s.video_id for s in ds.samples()] == [records[3]["video_id"]]
    problems = {d.video_id: d.problem for d in ds.defects}
    assert set(problems) == {short, missing, empty}
    n = records[0]["num_frames"]
    assert problems[short] == f"frames_labels has {n} labels but the folder has {n - 1} frames"
    assert problems[missing].startswith("missing frame folder")
    assert problems[empty].startswith("empty frame folder")
    assert sum("(skipped)" in r.getMessage() for r in caplog.records) == 3


def test_defects_fail_names_the_clip(small_root):
    root, records = small_root
    short, _, _ = _damage(root, records)
    with pytest.raises(DatasetError, match=f"^{short}: frames_labels has"):
        open_dataset("finediving", root, on_defect="fail")


def test_annotated_but_in_no_split_is_a_defect(small_root):
    root, records = small_root
    path = root / "Annotations" / "test_split.pkl"
    path.write_bytes(pickle.dumps([]))
    ds = open_dataset("finediving", root)
    assert [d.video_id for d in ds.defects] == [records[3]["video_id"]]
    assert "neither split" in ds.defects[0].problem


def test_symlinked_clip_folder_escaping_root_is_refused(small_root, tmp_path_factory):
    root, records = small_root
    outside = tmp_path_factory.mktemp("outside")
    record = records[0]
    clip = root / "FINADiving_MTL_256s" / record["competition"] / str(record["idx"])
    shutil.move(clip, outside / "clip")
    os.symlink(outside / "clip", clip)
    with pytest.raises(DatasetError, match="outside the data root"):
        open_dataset("finediving", root)


def test_symlinked_frame_escaping_root_is_refused(small_root, tmp_path_factory):
    root, records = small_root
    outside = tmp_path_factory.mktemp("outside") / "secret.jpg"
    outside.write_bytes(b"")
    record = records[0]
    frame = root / "FINADiving_MTL_256s" / record["competition"] / str(record["idx"]) / \
        frame_names(record)[0]
    frame.unlink()
    os.symlink(outside, frame)
    with pytest.raises(DatasetError, match="secret.jpg, outside the data root"):
        open_dataset("finediving", root)


def test_dotdot_paths_are_refused(small_root):
    root, records = small_root
    with pytest.raises(DatasetError, match="frames folder resolves to .*outside the data root"):
        open_dataset("finediving", root, frames_dir="../../etc")
    evil = dict(records[0], competition="../../..")
    write_annotations(root / "Annotations", [evil])
    with pytest.raises(DatasetError, match="outside the data root"):
        open_dataset("finediving", root)


def test_malicious_annotation_pickle(small_root):
    root, _ = small_root

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = root / "Annotations" / COARSE_PKL
    path.write_bytes(pickle.dumps({("01", 1): Evil()}))
    with pytest.raises(DatasetError, match=f"{path}: refused to unpickle posix.system"):
        open_dataset("finediving", root)


def test_missing_pieces(tmp_path):
    with pytest.raises(DatasetError, match="data root not found"):
        open_dataset("finediving", tmp_path / "none")
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "FINADiving_MTL_256s").mkdir()
    with pytest.raises(DatasetError, match="no FineDiving annotation pickle"):
        open_dataset("finediving", tmp_path)
    (tmp_path / "Annotations" / AQA_PKL).write_bytes(pickle.dumps({}))
    with pytest.raises(DatasetError, match="train_split.pkl: file not found"):
        open_dataset("finediving", tmp_path)
    (tmp_path / "Annotations" / "train_split.pkl").write_bytes(pickle.dumps({"not": "a list"}))
    with pytest.raises(DatasetError, match="expected a list of"):
        open_dataset("finediving", tmp_path)
    with pytest.raises(ValueError, match="on_defect"):
        open_dataset("finediving", tmp_path, on_defect="ignore")
    with pytest.raises(ValueError, match="unknown dataset kind"):
        open_dataset("finegym", tmp_path)
    with pytest.raises(ValueError, match="frames_root"):
        open_dataset("finediving", tmp_path, frames_root="x")


def test_frames_sorted_by_number_not_by_string(small_root):
    root, records = small_root
    record = records[0]
    folder = root / "FINADiving_MTL_256s" / record["competition"] / str(record["idx"])
    for f in folder.iterdir():
        f.unlink()
    names = ["998.jpg", "999.jpg", "1000.jpg", "1001.jpg"]
    for name in names:
        (folder / name).write_bytes(b"")
    labels = np.array([2, 2, 15, 36])
    for variant in (FINE_PKL, AQA_PKL, COARSE_PKL):
        path = root / "Annotations" / variant
        data = pickle.loads(path.read_bytes())
        entry = data[(record["competition"], record["idx"])]
        if variant == FINE_PKL:
            entry["frames_labels"] = labels
        elif variant == AQA_PKL:
            entry[4] = labels
        path.write_bytes(pickle.dumps(data))
    sample = open_dataset("finediving", root, on_defect="fail").sample(record["video_id"])
    assert list(sample.frame_names) == names and sample.transitions == (2, 3)


@pytest.mark.slow
def test_full_metadata_counts(tmp_path):
    """All 3000 clips with (empty) frames: official split sizes and FineDiving-HM mask counts."""
    build_finediving_fixture(tmp_path, all_frames=True)
    ds = open_dataset("finediving", tmp_path, on_defect="fail")
    assert len(ds.samples("train")) == 2251 and len(ds.samples("test")) == 749
    assert sum(s.num_frames for s in ds.samples()) == 312256
    assert sum(s.num_frames for s in ds.samples() if s.synchronized) == 63543
    assert len({s.action_type for s in ds.samples()}) == 52
    assert len({s.key[0] for s in ds.samples()}) == 135
