"""Frame sampling, transitions, the clip table and its masks (``fineparser/sampling.py``)."""

import numpy as np
import pytest

from fineparser.sampling import (MaskPack, build_clip_table, hold_out_validation, sample_frame_indices,
                                 window_transitions)
from hmtools.datasets import open_dataset
from hmtools.errors import StoreError
from hmtools.rle import mask_to_rle
from hmtools.store import MaskStore


@pytest.mark.parametrize("n,f,sampling,expected", [
    (5, 3, "spread", [0, 2, 4]),
    (3, 5, "spread", [0, 0, 1, 2, 2]),     # short clips repeat frames
    (10, 4, "first", [0, 1, 2, 3]),
    (2, 4, "first", [0, 1, 1, 1]),
    (10, 4, "last", [6, 7, 8, 9]),
    (2, 4, "last", [0, 0, 0, 1]),
])
def test_sample_frame_indices(n, f, sampling, expected):
    assert sample_frame_indices(n, f, sampling).tolist() == expected


def test_paper_window_spreads_103_frames_over_the_clip():
    idx = sample_frame_indices(206, 103, "spread")
    assert len(idx) == 103 and idx[0] == 0 and idx[-1] == 205 and (np.diff(idx) >= 1).all()


@pytest.mark.parametrize("transitions,frame_idx,expected,valid", [
    ((10, 20, 30), np.arange(0, 40, 2), [5, 15], True),   # first and last transition
    ((11, 29), np.arange(0, 40, 2), [6, 15], True),       # first window frame at or after t
    ((5,), np.arange(10), [0, 0], False),                 # fewer than two: invalid
    ((), np.arange(10), [0, 0], False),
    ((3, 50), np.arange(10), [3, 9], True),               # beyond the window: last frame
])
def test_window_transitions(transitions, frame_idx, expected, valid):
    got, ok = window_transitions(transitions, frame_idx)
    assert got.tolist() == expected and ok == valid


def test_mask_pack_round_trip():
    masks = [np.eye(4, dtype=bool), np.zeros((3, 5), bool), np.ones((2, 2), bool)]
    rles = [mask_to_rle(m) for m in masks]
    pack = MaskPack.from_counts([r.counts for r in rles], [r.size_hw for r in rles])
    assert len(pack) == 3 and pack.buffer.dtype == np.uint8
    for k, m in enumerate(masks):
        assert (pack.decode(k).astype(bool) == m).all()


def test_clip_table_keeps_compact_arrays(tiny_table):
    samples, table = tiny_table()
    assert len(table) == 10 and table.frame_paths.shape == (10, 23)
    assert table.frame_paths.dtype.kind == "S" and table.mask_ref.dtype == np.int64
    train = table.indices("train")
    assert (table.mask_ref[train] >= 0).all()           # every training frame has a mask
    assert (table.mask_ref[table.indices("test")] == -1).all()   # test masks are not read
    assert table.transitions_valid.all()
    assert table.transitions[0].tolist() == [8, 15]     # frames 8, 16 of 24 -> round(j * 23 / 22)


def test_gtm_names_the_videos_without_corrections(tmp_path):
    from helpers.aqa_fixture import build_tiny_aqa, tiny_records

    records = tiny_records(n_train=3, n_test=1, num_frames=8)
    data_root, store_root = build_tiny_aqa(tmp_path, records, uncorrected=("comptrain__1",))
    samples = open_dataset("synthetic", data_root).samples()
    with pytest.raises(StoreError, match=r"1 video\(s\) have no corrections.*comptrain__1"):
        build_clip_table(samples, 8, "spread", "gtm", MaskStore.open(store_root))
    table = build_clip_table(samples, 8, "spread", "pm", MaskStore.open(store_root))  # pseudo: fine
    assert (table.mask_ref[table.indices("train")] >= 0).all()
    empty = MaskStore.create(tmp_path / "empty")
    with pytest.raises(StoreError, match=r"3 video\(s\) not in the mask store: comptrain__0"):
        build_clip_table(samples, 8, "spread", "pm", empty)


def test_validation_hold_out_is_per_action_type_and_deterministic(tiny_table):
    _, table = tiny_table(masks="none")
    before = list(table.splits)
    held = hold_out_validation(table, 0.5, seed=0)
    assert held == table.indices("val") and len(held) == 2  # 3 training clips per type: 1 each
    assert {table.action_types[r] for r in held} == {"107B", "407C"}
    assert all(before[r] == "train" for r in held) and table.indices("test") == [
        i for i, s in enumerate(before) if s == "test"]
    _, again = tiny_table(masks="none")
    assert hold_out_validation(again, 0.5, seed=0) == held
    _, keep = tiny_table(masks="none")
    assert len(hold_out_validation(keep, 0.9, seed=0)) == 2  # each type keeps a query and an exemplar
    assert sorted(keep.action_types[r] for r in keep.indices("train")) == ["107B"] * 2 + ["407C"] * 2
    with pytest.raises(ValueError, match="val_share"):
        hold_out_validation(keep, 1.0)


def test_mask_pack_decode_many_is_decode():
    rng = np.random.default_rng(3)
    masks = [rng.random((int(rng.integers(1, 9)), int(rng.integers(1, 9)))) < 0.5 for _ in range(30)]
    masks += [np.zeros((4, 6), bool), np.ones((6, 4), bool)]
    pack = MaskPack.from_counts([mask_to_rle(m).counts for m in masks], [m.shape for m in masks])
    ks = [5, 0, 31, 5, 30, 17]
    got = list(pack.decode_many(np.array(ks)))
    assert len(got) == len(ks)
    for k, m in zip(ks, got):
        ref = pack.decode(k)
        assert m.dtype == ref.dtype == np.uint8 and m.shape == ref.shape and m.flags.f_contiguous
        assert np.array_equal(m, ref) and m.flags.writeable
    assert list(pack.decode_many([])) == []
