"""Model inputs: samples, the clip table, snippets of frames and masks (``fineparser/inputs.py``)."""

import numpy as np
import torch

from fineparser.inputs import build_table, masks_to_snippets, open_samples, to_snippets
from fineparser.model import get_config
from fineparser.train_config import load_train_config


def test_masks_to_snippets_follow_the_frames():
    cfg = get_config("tiny")                                  # N=4, T=8, stride 5: 23 frames
    masks = torch.arange(cfg.num_frames).view(1, -1, 1, 1).expand(2, -1, 2, 2).to(torch.uint8)
    valid = torch.arange(cfg.num_frames).expand(2, -1) % 2 == 0
    m, v = masks_to_snippets(masks, valid, cfg)
    assert m.shape == (2, 4, 8, 2, 2) and v.shape == (2, 4, 8)
    assert m[0, 2, :, 0, 0].tolist() == list(range(10, 18))
    assert v[0, 1].tolist() == [(5 + t) % 2 == 0 for t in range(8)]


def test_to_snippets_normalises_and_cuts_the_window():
    cfg = get_config("tiny")                                  # N=4, T=8, stride 5: 23 frames
    frame = torch.arange(cfg.num_frames, dtype=torch.uint8).view(1, -1, 1, 1, 1)
    clips = frame.expand(2, -1, 3, *cfg.frame_size_hw)        # frame j has value j in every pixel
    x = to_snippets(clips, cfg, torch.device("cpu"))
    assert x.shape == (2, 4, 3, 8, *cfg.frame_size_hw) and x.dtype == torch.float32
    red = (torch.arange(10, 18) / 255.0 - 0.485) / 0.229   # snippet 2 = frames 10..17, ImageNet stats
    assert torch.allclose(x[1, 2, 0, :, 0, 0], red)


def test_aqa7_one_class_first_frames_no_transitions(tmp_path):
    import scipy.io

    split = tmp_path / "Split_4"
    split.mkdir()
    scipy.io.savemat(split / "split_4_train_list.mat",
                     {"consolidated_train_list": np.array([[1, 1, 80.5], [1, 2, 45.0], [3, 1, 60.0]])})
    scipy.io.savemat(split / "split_4_test_list.mat", {"consolidated_test_list": np.array([[1, 3, 70.0]])})
    import cv2

    jpeg = cv2.imencode(".jpg", np.zeros((4, 4, 3), np.uint8))[1].tobytes()  # whole frames: checked
    for folder, n in {"diving-out/001": 30, "diving-out/002": 25, "diving-out/003": 40,
                      "ski_big_air-out/001": 30}.items():
        (tmp_path / "Seven" / folder).mkdir(parents=True)
        for i in range(1, n + 1):
            (tmp_path / "Seven" / folder / f"img_{i:05d}.jpg").write_bytes(jpeg)
    cfg = load_train_config(None, ["dataset=aqa7", f"data_root={tmp_path}", "dataset_class=diving",
                                   "masks=none", "model_preset=tiny"])
    samples = open_samples(cfg)
    assert sorted(s.video_id for s in samples) == ["diving-001", "diving-002", "diving-003"]
    table = build_table(cfg, cfg.model_config(), samples)
    row = table.video_ids.index("diving-002")                       # 25 frames, F = 23
    assert table.frame_idx[row].tolist() == list(range(23))          # the first F frames
    assert not table.transitions_valid.any() and table.mask_ref is None


def test_clips_with_a_truncated_window_frame_are_skipped_naming_the_file(tiny_aqa, caplog):
    import shutil

    from fineparser.inputs import whole_frame_samples
    from hmtools.datasets import open_dataset

    data_root = tiny_aqa[0].parent / "truncated_copy"
    if not data_root.exists():
        shutil.copytree(tiny_aqa[0], data_root)
    samples = open_dataset("synthetic", data_root).samples()
    bad = samples[1].frame_paths[0]
    bad.write_bytes(bad.read_bytes()[:-50])
    with caplog.at_level("WARNING"):
        kept = whole_frame_samples(samples, 8, "spread")
    assert [s.video_id for s in kept] == [s.video_id for s in samples if s is not samples[1]]
    assert f"{bad}: truncated JPEG" in caplog.text and "(skipped)" in caplog.text


def test_a_frame_of_another_size_fails_the_item_naming_the_file(tiny_table):
    import cv2
    import pytest

    from fineparser.dataset import ClipDataset
    from hmtools.errors import DatasetError

    samples, table = tiny_table(masks="none", frames=8)
    path = table.frame_paths[0][3].decode()
    original = open(path, "rb").read()
    try:
        cv2.imwrite(path, np.zeros((10, 10, 3), np.uint8))
        with pytest.raises(DatasetError, match=f"{path}: frame is 10x10, the clip's frames are 48x40"):
            ClipDataset(table, [0], (32, 32), 1.0)[0]
    finally:
        open(path, "wb").write(original)
