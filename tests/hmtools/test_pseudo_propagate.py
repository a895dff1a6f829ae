"""Re-propagation from corrected frames (hmtools.pseudo.propagate, hmtools.workflows.propagate)."""

from __future__ import annotations

import numpy as np
import pytest

from hmtools.pseudo.backends import Backends
from hmtools.pseudo.classical import ClassicalSegmenter
from hmtools.pseudo.propagate import GONE_SHARE, Run, anchor_plan, choose_mask, keep_gone
from hmtools.pseudo.settings import PseudoMaskSettings
from hmtools.rle import mask_to_rle, rle_to_mask
from hmtools.store import MaskStore, PseudoMask, Quality, VideoDoc
from hmtools.workflows.propagate import propagate_store
from helpers.pseudo_clips import square_clip


def _iou(a, b):
    u = np.count_nonzero(a | b)
    return 1.0 if u == 0 else np.count_nonzero(a & b) / u


def _doc_with(n, corrected, pseudo=None, empty=()):
    doc = VideoDoc.new("v", (4, 4), [f"{i:03d}.png" for i in range(n)])
    m = np.zeros((4, 4), bool)
    m[1:3, 1:3] = True
    for i in (range(n) if pseudo is None else pseudo):
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(m)))
    for i in corrected:
        doc.set_correction(i, 1, doc.make_correction(i, 1, mask_to_rle(m & (i not in empty)), by="t", at="x",
                                                     tool="t", pseudo_hash=None))
    return doc


@pytest.mark.parametrize("n, corrected, pseudo, only_from, empty, expected", [
    (9, [2, 6], None, None, (), [Run(2, (3, 4)), Run(6, (5,)), Run(6, (7, 8))]),
    (9, [2, 6], None, 6, (), [Run(6, (5,)), Run(6, (7, 8))]),
    (5, [2, 3], None, None, (), [Run(3, (4,))]),            # adjacent anchors; frame 1 ties: the start's
    (6, [3], [3, 4, 5], None, (), [Run(3, (4, 5))]),                        # not started before: stays so
    (9, [6], [2, 3, 4, 5, 6, 7, 8], None, (), [Run(6, (5,)), Run(6, (7, 8))]),  # half-way to the start
    (4, [], None, None, (), []),
    (9, [2, 6], None, None, (6,), [Run(2, (3, 4, 5)), Run(6, (7, 8))]),  # athlete left
    (9, [2, 6], None, None, (2,), [Run(6, (5, 4, 3)), Run(6, (7, 8))]),     # nobody at 2: 6 goes back
])
def test_anchor_plan(n, corrected, pseudo, only_from, empty, expected):
    assert anchor_plan(_doc_with(n, corrected, pseudo, empty), 1, only_from) == expected


@pytest.mark.parametrize("n, corrected, pseudo, empty, expected", [
    (9, [2, 6], None, (), [Run(2, (1, 0)), Run(2, (3, 4, 5)), Run(6, (5, 4, 3)), Run(6, (7, 8))]),
    (9, [6], [2, 3, 4, 5, 6, 7, 8], (), [Run(6, (5, 4, 3, 2)), Run(6, (7, 8))]),   # back to the start
    (9, [2, 6], None, (6,), [Run(2, (1, 0)), Run(2, (3, 4, 5)), Run(6, (7, 8))]),  # athlete left: as before
])
def test_two_sided_plan(n, corrected, pseudo, empty, expected):
    assert anchor_plan(_doc_with(n, corrected, pseudo, empty), 1, two_sided=True) == expected


def _pm(cells, score=None, anchor="a"):
    m = np.zeros((4, 4), bool)
    for r, c in cells:
        m[r, c] = True
    return PseudoMask(mask_to_rle(m), Quality(score=score), anchor=anchor)


SHAPES = {"L": [(1, 0), (1, 1), (2, 0), (2, 1)], "R": [(1, 2), (1, 3), (2, 2), (2, 3)],
          "M": [(1, 1), (1, 2), (2, 1), (2, 2)]}


@pytest.mark.parametrize("cands, stored, expected", [
    ([(5, "L"), (1, "R")], None, "R"),             # same score: the nearer anchor
    ([(1, "L.9"), (2, "R.7")], None, "L.9"),
    ([(9, "L.9"), (1, "R.85")], None, "R.85"),     # 0.9 - 8 * 0.01 < 0.85
    ([(3, "L.9"), (3, "R.5")], "R", "R.5"),        # the median of three: R agrees with the stored R
    ([(3, "L.9"), (3, "R.5")], "L", "L.9"),        # L run and stored L tie: the run (it is new)
    ([(3, "L.9"), (3, "R.5")], "M", None),          # the runs disagree, the stored one sits between
    ([(2, "L.5")], "R.9-producer", "L.5"),          # before the first anchor: the run replaces the producer's
])
def test_choose_mask(cands, stored, expected):
    def make(spec):  # "<shape>[.<score>][-producer]"
        rest = spec[1:].split("-")[0]
        return _pm(SHAPES[spec[0]], float(rest) if rest else None, None if spec.endswith("-producer") else "a")

    found = [(d, make(spec)) for d, spec in cands]
    got = choose_mask(found, make(stored) if stored else None)
    if expected is None:
        assert got is None
    else:
        want = found[[spec for _, spec in cands].index(expected)][1]
        assert got is want


def _gone_doc(producer_empty_from=6, anchor_empty_at=()):
    """8 frames of 8x8, one athlete: the producer's masks a 4x4 box (16 px), empty from
    ``producer_empty_from`` (the entry); a correction on frame 2 (the box)."""
    doc = VideoDoc.new("v", (8, 8), [f"{i:03d}.png" for i in range(8)])
    box = np.zeros((8, 8), bool)
    box[2:6, 2:6] = True
    for i in range(8):
        m = box if i < producer_empty_from else np.zeros_like(box)
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(m), anchor="001.png" if i in anchor_empty_at else None))
    doc.set_correction(2, 1, doc.make_correction(2, 1, mask_to_rle(box), by="t", at="x", tool="t", pseudo_hash=None))
    return doc


def _run_masks(areas):
    """Run output ``{(frame, 1): mask}`` with masks of the given pixel counts (first row-major pixels)."""
    out = {}
    for i, a in areas.items():
        m = np.zeros(64, bool)
        m[:a] = True
        out[(i, 1)] = PseudoMask(mask_to_rle(m.reshape(8, 8)), anchor="002.png")
    return out


@pytest.mark.parametrize("doc_kw, areas, kept", [
    # a 3 px splash (< 0.25 * 16) over the producer's empty end (6, 7) is dropped; 5 keeps its mask
    ({}, {5: 3, 6: 3, 7: 2}, [5]),
    ({}, {5: 3, 6: 8, 7: 2}, [5, 6]),            # as large as half the athlete: the producer lost it
    ({"producer_empty_from": 9}, {6: 3, 7: 2}, [6, 7]),    # the producer never went empty: no end to keep
    ({"anchor_empty_at": (7,)}, {6: 3, 7: 2}, [6, 7]),     # frame 7 from another run, not the producer's
    ({"producer_empty_from": 0}, {6: 3, 7: 2}, [6, 7]),    # the producer never had the athlete
])
def test_keep_gone_keeps_the_producers_empty_end(doc_kw, areas, kept):
    assert GONE_SHARE == 0.25
    got = keep_gone(_gone_doc(**doc_kw), _run_masks(areas))
    assert sorted(i for i, _ in got) == kept


def test_keep_gone_ignores_an_empty_last_anchor():
    doc = _gone_doc()
    doc.set_correction(4, 1, doc.make_correction(4, 1, mask_to_rle(np.zeros((8, 8), bool)), by="t", at="x",
                                                 tool="t", pseudo_hash=None))
    assert sorted(i for i, _ in keep_gone(doc, _run_masks({6: 0, 7: 0}))) == [6, 7]


def _square_store(tmp_path, n=12):
    folder = tmp_path / "frames" / "sq"
    truth = square_clip(folder, n=n)
    names = sorted(p.name for p in folder.iterdir())
    store = MaskStore.create(tmp_path / "store")
    doc = VideoDoc.new("sq", truth[0].shape, names, source=str(folder))
    wrong = np.zeros_like(truth[0])
    wrong[30:40, 40:60] = True  # a pseudo layer that lost the athlete everywhere
    for i in range(n):
        doc.set_pseudo(i, 1, PseudoMask(mask_to_rle(wrong)))
    for i in (3, 9):
        doc.set_correction(i, 1, doc.make_correction(i, 1, mask_to_rle(truth[i]), by="ann", at="now",
                                                     tool="test", pseudo_hash=doc.pseudo_hash(i, 1)))
    store.write(doc)
    return store, truth


@pytest.mark.parametrize("tracker", ["none", "opencv"])
def test_propagation_fixes_the_frames_between_anchors(tmp_path, tracker):
    store, truth = _square_store(tmp_path)
    settings = PseudoMaskSettings(tracker=tracker, segmenter="classical")
    before = store.read("sq")
    summary = propagate_store(store, settings)
    assert [o.status for o in summary.outcomes] == ["done"]
    doc = store.read("sq")
    ious = [_iou(rle_to_mask(doc.pseudo_mask(i, 1).rle).astype(bool), truth[i]) for i in range(12)]
    # the producer's masks carry no score here, so the run from 3 also takes frames 0-1
    assert min(ious[i] for i in range(12) if i not in (3, 9)) > 0.6, ious
    # corrected frames keep their pseudo mask (and so their pseudo_hash); provenance names the anchor
    for i in (3, 9):
        assert doc.pseudo_mask(i, 1) == before.pseudo_mask(i, 1) and not doc.is_stale(i, 1)
    assert [doc.pseudo_mask(i, 1).anchor for i in (0, 2, 4, 6, 7, 11)] == \
        ["00103.png", "00103.png", "00103.png", "00103.png", "00109.png", "00109.png"]
    assert doc.producer.params["propagation"]["anchors"] == 2
    # a rerun with the same anchors and settings is skipped; another backend is not
    assert [o.status for o in propagate_store(store, settings).outcomes] == ["skipped"]
    other = PseudoMaskSettings(tracker="opencv" if tracker == "none" else "none", segmenter="classical")
    assert [o.status for o in propagate_store(store, other).outcomes] == ["done"]


def test_no_corrections_and_sharding(tmp_path):
    store, _ = _square_store(tmp_path)
    doc = store.read("sq")
    doc.corrected.clear()
    store.write(doc)
    s = propagate_store(store, PseudoMaskSettings(tracker="none"))
    assert [o.status for o in s.outcomes] == ["no-anchors"]
    assert propagate_store(store, PseudoMaskSettings(tracker="none"), shard=(1, 2)).outcomes == []


def test_any_segmenter_object_is_accepted(tmp_path):
    """Backends built from parts (tiny models in tests) work the same way."""
    store, truth = _square_store(tmp_path)
    settings = PseudoMaskSettings(tracker="none", segmenter="classical")
    backends = Backends.from_parts(settings, ClassicalSegmenter(settings.classical))
    s = propagate_store(store, backends=backends)
    assert s.outcomes[0].status == "done" and s.outcomes[0].masks == 10  # all but the 2 corrected


def test_command(tmp_path):
    from click.testing import CliRunner

    from cli import hmtools

    store, _ = _square_store(tmp_path)
    runner = CliRunner()
    args = ["propagate", "--store", str(store.root), "--tracker", "none", "--no-progress"]
    res = runner.invoke(hmtools, args)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("propagate shard 0/1: 1 done, 0 skipped")
    res = runner.invoke(hmtools, args)
    assert "0 done, 1 skipped" in res.output
    res = runner.invoke(hmtools, args + ["--video", "nosuch"])
    assert res.exit_code == 1 and "FAILED nosuch" in res.output


def test_pseudo_mask_records_an_absolute_source(tmp_path, monkeypatch):
    from hmtools.pseudo.pipeline import generate_pseudo_masks, jobs_from_path
    from helpers.pseudo_clips import prompt_for
    from hmtools.pseudo.prompts import Prompts

    truth = square_clip(tmp_path / "clip", n=3)
    monkeypatch.chdir(tmp_path)
    store = MaskStore.create(tmp_path / "store")
    generate_pseudo_masks(jobs_from_path("clip"), store, PseudoMaskSettings(tracker="none"),
                          prompts=Prompts([prompt_for("clip", truth[0])]), progress=False)
    assert store.read("clip").source == str(tmp_path / "clip")
