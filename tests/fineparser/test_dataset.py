"""Clip and pair datasets, the clip cache (``fineparser/dataset.py``)."""

import torch

from fineparser.dataset import ClipCache, ClipDataset, PairDataset
from fineparser.exemplars import ExemplarChooser
from fineparser.sampling import build_clip_table
from hmtools.datasets import open_dataset
from hmtools.store import MaskStore


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


def test_pair_items_are_typed_and_reproducible(tiny_table):
    samples, table = tiny_table()
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


def test_cached_clips_are_the_uncached_items(tiny_table):
    _, table = tiny_table()
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


def test_train_loader_workers_exit_when_the_command_is_killed(tiny_aqa, tmp_path):
    """``worker_init`` makes DataLoader workers exit with the command (:mod:`hmtools.workers`)."""
    from helpers.processes import kill_when_workers_run

    data_root, store_root = tiny_aqa
    kill_when_workers_run(["train", "--dataset", "synthetic", "--data-root", str(data_root),
                           "--store", str(store_root), "--preset", "tiny", "--run-dir",
                           str(tmp_path / "run"), "--set", "workers=2", "--set", "epochs=50"],
                          2, entry="fineparser")
