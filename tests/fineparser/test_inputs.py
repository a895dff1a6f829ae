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
    for folder, n in {"diving-out/001": 30, "diving-out/002": 25, "diving-out/003": 40,
                      "ski_big_air-out/001": 30}.items():
        (tmp_path / "Seven" / folder).mkdir(parents=True)
        for i in range(1, n + 1):
            (tmp_path / "Seven" / folder / f"img_{i:05d}.jpg").write_bytes(b"")
    cfg = load_train_config(None, ["dataset=aqa7", f"data_root={tmp_path}", "dataset_class=diving",
                                   "masks=none", "model_preset=tiny"])
    samples = open_samples(cfg)
    assert sorted(s.video_id for s in samples) == ["diving-001", "diving-002", "diving-003"]
    table = build_table(cfg, cfg.model_config(), samples)
    row = table.video_ids.index("diving-002")                       # 25 frames, F = 23
    assert table.frame_idx[row].tolist() == list(range(23))          # the first F frames
    assert not table.transitions_valid.any() and table.mask_ref is None
