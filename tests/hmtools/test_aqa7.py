import numpy as np
import pytest
import scipy.io

from hmtools.datasets import open_dataset
from hmtools.errors import DatasetError

TRAIN = [[1, 1, 80.5], [1, 2, 45.0], [5, 1, 90.2], [2, 7, 15.1]]
TEST = [[6, 3, 70.0], [1, 4, 33.3]]


def _write(root, train=TRAIN, test=TEST, frames=None):
    split = root / "Split_4"
    split.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(split / "split_4_train_list.mat",
                     {"consolidated_train_list": np.array(train, dtype=float)})
    scipy.io.savemat(split / "split_4_test_list.mat",
                     {"consolidated_test_list": np.array(test, dtype=float)})
    frames = frames if frames is not None else {
        "diving-out/001": 4, "diving-out/002": 3, "sync_diving_3m-out/001": 2,
        "gym_vault-out/007": 2, "sync_diving_10m-out/003": 3, "diving-out/004": 0}
    for folder, n in frames.items():
        path = root / "Seven" / folder
        path.mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            (path / f"img_{i:05d}.jpg").write_bytes(b"")
    return root


def test_reads_samples(tmp_path):
    ds = open_dataset("aqa7", _write(tmp_path))
    assert ds.name == "aqa7"
    assert [s.video_id for s in ds.samples("train")] == [
        "diving-001", "diving-002", "gym_vault-007", "sync_diving_3m-001"]
    assert [s.video_id for s in ds.samples("test")] == ["sync_diving_10m-003"]
    s = ds.sample("diving-001")
    assert s.key == ("diving", 1) and s.score == 80.5 and s.difficulty is None
    assert s.frame_names == tuple(f"img_{i:05d}.jpg" for i in range(1, 5))
    assert (s.action_type, s.event, s.synchronized, s.transitions) == ("diving", "diving", False, ())
    assert ds.sample("sync_diving_3m-001").synchronized is True
    assert [(d.video_id, d.problem.split(" ")[0]) for d in ds.defects] == [("diving-004", "empty")]


def test_class_filter_and_core_layout(tmp_path):
    """CoRe keeps Split_4 and <class>-out under one data root."""
    _write(tmp_path)
    root = tmp_path / "Seven"
    (tmp_path / "Split_4").rename(root / "Split_4")
    ds = open_dataset("aqa7", root, classes=("diving",))
    assert {s.action_type for s in ds.samples()} == {"diving"}
    assert len(ds.samples()) == 2


def test_missing_folder_fails_with_clip_name(tmp_path):
    _write(tmp_path, frames={"diving-out/001": 2})
    with pytest.raises(DatasetError, match="^diving-002: missing frame folder"):
        open_dataset("aqa7", tmp_path, on_defect="fail")


@pytest.mark.parametrize("rows,message", [
    ([[8, 1, 50.0]], "bad row"),
    ([[1.5, 1, 50.0]], "bad row"),
])
def test_bad_rows(tmp_path, rows, message):
    _write(tmp_path, train=rows)
    with pytest.raises(DatasetError, match=message):
        open_dataset("aqa7", tmp_path)


def test_bad_split_files(tmp_path):
    _write(tmp_path)
    path = tmp_path / "Split_4" / "split_4_test_list.mat"
    path.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="split_4_test_list.mat: not a readable .mat file"):
        open_dataset("aqa7", tmp_path)
    scipy.io.savemat(path, {"wrong_key": np.zeros((1, 3))})
    with pytest.raises(DatasetError, match="expected a consolidated_test_list matrix"):
        open_dataset("aqa7", tmp_path)
    path.unlink()
    with pytest.raises(DatasetError, match="split file not found"):
        open_dataset("aqa7", tmp_path)
    with pytest.raises(DatasetError, match="outside the data root"):
        open_dataset("aqa7", tmp_path, split_dir="../..")
