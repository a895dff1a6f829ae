import numpy as np
import pytest
import torch

from fineparser.data import (ClipDataset, CropParams, ExemplarChooser, MaskPack, PairDataset,
                             build_clip_table, masks_to_snippets, sample_frame_indices,
                             window_transitions)
from fineparser.model import get_config
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


def test_masks_to_snippets_follow_the_frames():
    cfg = get_config("tiny")                                  # N=4, T=8, stride 5: 23 frames
    masks = torch.arange(cfg.num_frames).view(1, -1, 1, 1).expand(2, -1, 2, 2).to(torch.uint8)
    valid = torch.arange(cfg.num_frames).expand(2, -1) % 2 == 0
    m, v = masks_to_snippets(masks, valid, cfg)
    assert m.shape == (2, 4, 8, 2, 2) and v.shape == (2, 4, 8)
    assert m[0, 2, :, 0, 0].tolist() == list(range(10, 18))
    assert v[0, 1].tolist() == [(5 + t) % 2 == 0 for t in range(8)]


def test_crop_params_transform_frames_and_masks_identically():
    rng = np.random.default_rng(3)
    mask = np.zeros((40, 48), np.uint8)
    mask[10:20, 5:15] = 1
    image = np.zeros((40, 48, 3), np.uint8)
    image[mask.astype(bool)] = 255
    seen_flip = False
    for _ in range(10):
        p = CropParams.draw((32, 32), 1.25, train=True, flip=True, rng=rng)
        seen_flip |= p.flip
        out_img, out_mask = p.apply(image), p.apply(mask, nearest=True)
        assert out_img.shape == (32, 32, 3) and out_mask.shape == (32, 32)
        bright = out_img[..., 0] > 127
        assert (bright == out_mask.astype(bool)).mean() > 0.97
    assert seen_flip
    central = CropParams.draw((32, 32), 1.25, train=False, flip=True, rng=rng)
    assert central == CropParams((40, 40), (4, 4), (32, 32), False)


def test_mask_pack_round_trip():
    masks = [np.eye(4, dtype=bool), np.zeros((3, 5), bool), np.ones((2, 2), bool)]
    rles = [mask_to_rle(m) for m in masks]
    pack = MaskPack.from_counts([r.counts for r in rles], [r.size_hw for r in rles])
    assert len(pack) == 3 and pack.buffer.dtype == np.uint8
    for k, m in enumerate(masks):
        assert (pack.decode(k).astype(bool) == m).all()


def _table(tiny_aqa, masks="gtm", frames=23):
    data_root, store_root = tiny_aqa
    samples = open_dataset("synthetic", data_root).samples()
    return samples, build_clip_table(samples, frames, "spread", masks, MaskStore.open(store_root))


def test_clip_table_keeps_compact_arrays(tiny_aqa):
    samples, table = _table(tiny_aqa)
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


def test_frames_without_masks_are_invalid(tmp_path):
    from helpers.aqa_fixture import build_tiny_aqa, tiny_records

    records = tiny_records(n_train=2, n_test=0, num_frames=8)
    data_root, store_root = build_tiny_aqa(tmp_path, records)
    store = MaskStore.open(store_root)
    with store.edit("comptrain__0") as doc:
        doc.corrected[3] = None                       # frame 3: no correction any more
    samples = open_dataset("synthetic", data_root).samples()
    table = build_clip_table(samples, 8, "spread", "gtm", store)
    item = ClipDataset(table, [0], (32, 32), 1.0)[0]
    assert item.mask_valid.tolist() == [i != 3 for i in range(8)]
    assert item.masks[3].sum() == 0 and item.masks[2].sum() > 0


def test_pair_items_are_typed_and_reproducible(tiny_aqa):
    samples, table = _table(tiny_aqa)
    train = table.indices("train")
    chooser = ExemplarChooser(table, train, "AN")
    pairs = PairDataset(table, train, chooser, (32, 32), train=True, seed=0)
    a = pairs[1]
    assert a.query.frames.shape == (23, 3, 32, 32) and a.query.frames.dtype == torch.uint8
    assert a.query.masks.shape == (23, 32, 32) and a.query.mask_valid.all()
    z = int(a.exemplar.index)
    assert z != train[1] and table.action_types[z] == table.action_types[train[1]]
    b = pairs[1]
    assert all(torch.equal(x, y) for x, y in zip(a.query + a.exemplar, b.query + b.exemplar))
    # the bright square of the frames is where the mask is, after crop and flip
    bright = a.query.frames[:, 0] > 150
    assert (bright == a.query.masks.bool()).float().mean() > 0.95
    batch = torch.utils.data.default_collate([pairs[0], pairs[1]])
    assert type(batch).__name__ == "PairItem" and batch.query.frames.shape[0] == 2


def test_exemplar_plan_excludes_the_query_and_is_deterministic(tiny_aqa):
    _, table = _table(tiny_aqa, masks="none")
    train, test = table.indices("train"), table.indices("test")
    chooser = ExemplarChooser(table, train, "AN")
    plan, fallback = chooser.plan(test + train, 10, seed=0)
    assert not fallback
    for row, ex in plan.items():
        assert row not in ex and len(ex) == len(set(ex))
        assert {table.action_types[z] for z in ex} == {table.action_types[row]}
    assert chooser.plan(test, 10, seed=0)[0] == {r: plan[r] for r in test}
    dd = ExemplarChooser(table, train, "DD").plan(test, 2, seed=0)[0]
    assert all(table.difficulties[z] == table.difficulties[r] for r, ex in dd.items() for z in ex)


def test_cached_clips_are_the_uncached_items(tiny_aqa):
    from fineparser.data import ClipCache

    _, table = _table(tiny_aqa)
    train = table.indices("train")
    chooser = ExemplarChooser(table, train, "AN")
    cache = ClipCache()
    plain = PairDataset(table, train, chooser, (32, 32), train=True, seed=3)
    cached = PairDataset(table, train, chooser, (32, 32), train=True, seed=3, cache=cache)
    for epoch in (0, 1):  # new crops and flips each epoch, from the same cached clips
        plain.set_epoch(epoch)
        cached.set_epoch(epoch)
        for i in range(len(train)):
            a, b = plain[i], cached[i]
            assert all(torch.equal(x, y) for x, y in zip(a.query + a.exemplar, b.query + b.exemplar))
    assert 0 < len(cache) <= len(train)
    evaluated = ClipDataset(table, train, (32, 32), cache=cache)[0]
    assert torch.equal(evaluated.frames, ClipDataset(table, train, (32, 32))[0].frames)


def test_validation_hold_out_is_per_action_type_and_deterministic(tiny_aqa):
    from fineparser.data import hold_out_validation

    _, table = _table(tiny_aqa, masks="none")
    before = list(table.splits)
    held = hold_out_validation(table, 0.5, seed=0)
    assert held == table.indices("val") and len(held) == 2  # 3 training clips per type: 1 each
    assert {table.action_types[r] for r in held} == {"107B", "407C"}
    assert all(before[r] == "train" for r in held) and table.indices("test") == [
        i for i, s in enumerate(before) if s == "test"]
    _, again = _table(tiny_aqa, masks="none")
    assert hold_out_validation(again, 0.5, seed=0) == held
    _, keep = _table(tiny_aqa, masks="none")
    assert len(hold_out_validation(keep, 0.9, seed=0)) == 2  # each type keeps a query and an exemplar
    assert sorted(keep.action_types[r] for r in keep.indices("train")) == ["107B"] * 2 + ["407C"] * 2
    with pytest.raises(ValueError, match="val_share"):
        hold_out_validation(keep, 1.0)
