import os
import pickle

import numpy as np
import pytest

from hmtools.datasets import open_dataset
from hmtools.datasets.mtlaqa import video_events
from hmtools.errors import DatasetError


def _entry(dive_number, score, difficulty, end_frame, armstand=0):
    return {"primary_view": 0, "start_frame": end_frame - 90, "end_frame": end_frame,
            "position": "PIKE", "difficulty": difficulty, "armstand": armstand,
            "rotation_type": "BACK", "ss_no": 5, "tw_no": 3, "final_score": score,
            "judge_scores": np.array([8.5, 8.0, 8.5, 9.0, 8.5, 8.0, 8.5]),
            "dive_number": dive_number}


ANNOTATIONS = {
    (1, 1): _entry("407c", 81.6, 3.2, 110),
    (1, 2): _entry("626C", 70.2, 3.3, 250, armstand=1),
    (17, 3): _entry("5253B", 65.0, 3.0, 104),
    (1, 4): _entry("107B", 60.0, 3.0, 400),   # ends past the video's 260 frames
    (98, 1): _entry("107B", 60.0, 3.0, 103),   # video folder missing
}
TRAIN, TEST = [(1, 1), (1, 2), (1, 4)], [(17, 3), (98, 1)]


def _write(root, annotations=ANNOTATIONS, train=TRAIN, test=TEST):
    info = root / "info"
    info.mkdir(parents=True, exist_ok=True)
    for name, data in (("final_annotations_dict_with_dive_number.pkl", annotations),
                       ("train_split_0.pkl", train), ("test_split_0.pkl", test)):
        (info / name).write_bytes(pickle.dumps(data))


@pytest.fixture
def broadcast_root(tmp_path):
    _write(tmp_path)
    for video, n in ((1, 260), (17, 120)):
        folder = tmp_path / "new_total_frames_256s" / f"{video:02d}"
        folder.mkdir(parents=True)
        for i in range(1, n + 1):
            (folder / f"{i:08d}.jpg").write_bytes(b"")
    return tmp_path


def test_broadcast_layout(broadcast_root):
    ds = open_dataset("mtlaqa", broadcast_root)
    assert ds.name == "mtlaqa"
    assert [s.video_id for s in ds.samples("train")] == ["01_01", "01_02"]
    assert [s.video_id for s in ds.samples("test")] == ["17_03"]
    s = ds.sample("01_01")
    # CoRe: positions end_frame-103 .. end_frame-1 of the sorted list; files are numbered from 1.
    assert s.frame_names[0] == "00000008.jpg" and s.frame_names[-1] == "00000110.jpg"
    assert s.num_frames == 103
    assert (s.key, s.action_type, s.score, s.difficulty) == ((1, 1), "407C", 81.6, 3.2)
    assert s.judge_scores == (8.5, 8.0, 8.5, 9.0, 8.5, 8.0, 8.5)
    assert s.transitions == () and s.synchronized is False
    assert s.event == "10m" and ds.sample("17_03").event == "3m"
    problems = {d.video_id: d.problem for d in ds.defects}
    assert problems == {
        "01_04": "clip needs frames 297..399 of video 01 but its folder has 260 frames",
        "98_01": f"missing frame folder {broadcast_root.resolve() / 'new_total_frames_256s' / '98'}",
    }


def test_fail_on_defect(broadcast_root):
    with pytest.raises(DatasetError, match="^01_04: clip needs frames"):
        open_dataset("mtlaqa", broadcast_root, on_defect="fail")


def test_clips_layout(tmp_path):
    _write(tmp_path, train=[(1, 1)], test=[(17, 3)])
    for video_id, n in (("01_01", 5), ("17_03", 0)):
        folder = tmp_path / "frames" / video_id
        folder.mkdir(parents=True)
        for i in (10, 9, 11, 100, 2)[:n]:
            (folder / f"{i:05d}.jpg").write_bytes(b"")
    ds = open_dataset("mtlaqa", tmp_path)
    assert ds.sample("01_01").frame_names == ("00002.jpg", "00009.jpg", "00010.jpg",
                                              "00011.jpg", "00100.jpg")
    assert [(d.video_id, d.problem.split(" ")[0]) for d in ds.defects] == [("17_03", "empty")]


def test_event_rules():
    table = {17: "3m", 1: "10m"}
    annotations = {(1, 1): _entry("107B", 1, 3, 110), (17, 1): _entry("107B", 1, 3, 110),
                   (40, 1): _entry("107B", 1, 3, 110), (40, 2): _entry("6243D", 1, 3, 110),
                   (41, 1): _entry("107B", 1, 3, 110)}
    annotations[(40, 2)]["armstand"] = 0  # the dive number alone says armstand
    assert video_events(annotations, table) == {1: "10m", 17: "3m", 40: "10m", 41: None}


def test_bad_input(tmp_path_factory, broadcast_root):
    with pytest.raises(DatasetError, match="no frames folder"):
        open_dataset("mtlaqa", tmp_path_factory.mktemp("empty"))
    info = broadcast_root / "info"

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (info / "train_split_0.pkl").write_bytes(pickle.dumps([Evil()]))
    with pytest.raises(DatasetError, match="train_split_0.pkl: refused to unpickle"):
        open_dataset("mtlaqa", broadcast_root)
    with pytest.raises(DatasetError, match="outside the data root"):
        open_dataset("mtlaqa", broadcast_root, annotations="../elsewhere.pkl")
    (info / "final_annotations_dict_with_dive_number.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DatasetError, match="expected a dict keyed by"):
        open_dataset("mtlaqa", broadcast_root)
