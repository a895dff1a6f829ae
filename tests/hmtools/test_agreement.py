"""Agreement report: hand-computed IoU and boundary F on tiny masks."""

import csv

import numpy as np
import pytest
from helpers.correction_store import box_mask, make_store

from hmtools.agreement import boundary, boundary_f_score, run_agreement
from hmtools.rle import empty_rle, mask_to_rle
from hmtools.store import Correction, Flag, Quality, mask_hash

SIZE = (10, 10)
A = box_mask(SIZE, 2, 6, 2, 6)            # 4x4 square, boundary = 12 pixels


def test_boundary_pixels():
    assert boundary(A).sum() == 12
    assert not boundary(A)[3:5, 3:5].any()
    full = np.ones(SIZE, bool)
    assert boundary(full).sum() == 0     # the image edge is not a boundary


@pytest.mark.parametrize("b, tol, expected", [
    (A, 2, 1.0),
    (np.roll(A, 1, axis=1), 0, 0.5),       # 6 of 12 boundary pixels coincide (top and bottom rows)
    (np.roll(A, 1, axis=1), 1, 1.0),
    (np.roll(A, 3, axis=1), 2, 2 / 3),     # left column misses (3 px) + 2 row px each side: 8/12
    (np.zeros(SIZE, bool), 2, 0.0),
])
def test_boundary_f_hand_computed(b, tol, expected):
    assert boundary_f_score(A, b, tol) == pytest.approx(expected)
    assert boundary_f_score(b, A, tol) == pytest.approx(expected)


def test_boundary_f_both_empty():
    z = np.zeros(SIZE, bool)
    assert boundary_f_score(z, z) == 1.0


def _corr(rle, status, pseudo):
    return Correction(rle, status, "me", "t", "test", mask_hash(pseudo))


def test_report_per_video_and_action_type(tmp_path):
    ok = (A, Quality(), Flag())
    store = make_store(tmp_path, {"v1": ("107B", [{1: ok}, {1: ok}, {1: ok}, {1: ok}]),
                                  "v2": ("107B", [{1: ok}, {1: ok}]),
                                  "v3": ("407C", [{1: ok}, {1: ok}])}, size_hw=SIZE)
    shifted = mask_to_rle(np.roll(A, 1, axis=1))   # IoU 12/20 = 0.6, boundary F (2 px) = 1
    with store.edit("v1") as doc:
        p = doc.pseudo[0][1].rle
        doc.set_correction(0, 1, _corr(p, "confirmed", p))                      # IoU 1, F 1
        doc.set_correction(1, 1, _corr(shifted, "edited", p))                   # IoU .6, F 1
        doc.set_correction(2, 1, _corr(empty_rle(SIZE), "empty", p))            # IoU 0, F 0
    with store.edit("v2") as doc:
        p = doc.pseudo[0][1].rle
        doc.set_correction(1, 1, _corr(mask_to_rle(np.roll(A, 3, axis=1)), "edited", p))  # IoU 4/28, F 2/3
    rep = run_agreement(store, csv_path=tmp_path / "agr.csv", png_path=tmp_path / "agr.png")
    v1, v2, v3 = rep.videos
    assert (v1.n_frames, v1.n_reviewed, v1.n_compared, v1.n_changed) == (4, 3, 3, 2)
    assert v1.mean_iou == pytest.approx((1 + 0.6 + 0) / 3)
    assert v1.mean_boundary_f == pytest.approx((1 + 1 + 0) / 3)
    assert v1.changed_share == pytest.approx(2 / 3)
    assert v2.mean_iou == pytest.approx(4 / 28) and v2.mean_boundary_f == pytest.approx(2 / 3)
    assert v3.n_reviewed == 0 and np.isnan(v3.mean_iou)
    (b107, c407) = rep.action_rows()
    assert (b107.name, b107.n_videos, b107.n_reviewed, b107.n_changed) == ("107B", 2, 4, 3)
    assert b107.mean_iou == pytest.approx((1 + 0.6 + 0 + 4 / 28) / 4)
    assert c407.n_frames == 2 and c407.n_reviewed == 0
    total = rep.total()
    assert (total.n_frames, total.n_reviewed, total.n_changed) == (8, 4, 3)
    with open(tmp_path / "agr.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["level"] for r in rows] == ["video"] * 3 + ["action_type"] * 2 + ["all"]
    assert float(rows[0]["mean_iou"]) == pytest.approx(0.5333, abs=1e-4)
    assert rows[2]["mean_iou"] == ""
    assert (tmp_path / "agr.png").stat().st_size > 1000


def test_partial_correction_uses_effective_mask(tmp_path):
    """Two athletes, only one corrected: the other keeps its pseudo mask in the comparison."""
    b = box_mask(SIZE, 6, 9, 6, 9)
    store = make_store(tmp_path, {"s": ("5253B", [{1: (A, Quality(), Flag()), 2: (b, Quality(), Flag())}])},
                       size_hw=SIZE, objects=2)
    with store.edit("s") as doc:
        p = doc.pseudo[0][1].rle
        doc.set_correction(0, 1, _corr(empty_rle(SIZE), "empty", p))
    (row,) = run_agreement(store).videos
    # pseudo union = 16 + 9 px, effective = athlete 2 only (9 px): IoU = 9 / 25.
    assert row.mean_iou == pytest.approx(9 / 25)
    assert row.n_changed == 1


def test_agreement_command(tmp_path):
    from click.testing import CliRunner

    from cli import hmtools

    store = make_store(tmp_path)
    with store.edit("v1") as doc:
        p = doc.pseudo[0][1].rle
        doc.set_correction(0, 1, _corr(empty_rle((12, 16)), "empty", p))
    res = CliRunner().invoke(hmtools, ["agreement", "--store", str(store.root), "--by", "video",
                                       "--png", str(tmp_path / "a.png")])
    assert res.exit_code == 0, res.output
    rows = [line.split() for line in res.output.splitlines() if not line.startswith("wrote")]
    assert rows[0][:3] == ["level", "name", "action_type"]
    assert rows[1][:2] == ["video", "v1"] and rows[1][7] == "0.0"   # mean IoU of the one reviewed frame
    assert rows[-1][:2] == ["all", "ALL"]
    assert (tmp_path / "a.png").is_file()


def _backend_store(root, backend, masks_by_video, size_hw=SIZE):
    """A store whose pseudo layer came from ``backend`` (``None`` in a frame: no pseudo mask)."""
    from hmtools.store import Producer

    store = make_store(root, {v: ("107B" if v != "v3" else "407C",
                                  [{1: (m, Quality(), Flag())} if m is not None else None for m in masks])
                              for v, masks in masks_by_video.items()}, size_hw=size_hw)
    for v in masks_by_video:
        with store.edit(v) as doc:
            doc.producer = Producer(backend, tool_version="t")
    return store


def test_two_backends_side_by_side(tmp_path):
    shifted = np.roll(A, 1, axis=1)                  # IoU 12/20 = 0.6, boundary F (2 px) = 1
    a = _backend_store(tmp_path / "a", "ostrack+sam", {"v1": [A, A, A, None], "v2": [A], "only_a": [A]})
    b = _backend_store(tmp_path / "b", "sam2", {"v1": [A, shifted, None, None], "v2": [np.zeros(SIZE, bool)],
                                                "only_b": [A]})
    rep = run_agreement(a, against=b, csv_path=tmp_path / "pair.csv", png_path=tmp_path / "pair.png")
    assert rep.labels == ("ostrack+sam", "sam2")
    assert rep.only_in == {str(a.root): ["only_a"], str(b.root): ["only_b"]}
    v1, v2 = rep.videos
    assert (v1.n_reviewed, v1.n_compared, v1.n_changed) == (3, 2, 2)   # frame 2 masked by one backend only
    assert v1.mean_iou == pytest.approx((1 + 0.6) / 2) and v1.mean_boundary_f == pytest.approx(1.0)
    assert v2.mean_iou == 0.0 and v2.changed_share == 1.0
    with open(tmp_path / "pair.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {"masked", "differ", "differ_share"} <= set(rows[0]) and "reviewed" not in rows[0]
    assert (tmp_path / "pair.png").stat().st_size > 1000


def test_two_backends_need_the_same_frames(tmp_path):
    from hmtools.errors import StoreError

    a = _backend_store(tmp_path / "a", "x", {"v1": [A, A]})
    b = _backend_store(tmp_path / "b", "y", {"v1": [A]})
    with pytest.raises(StoreError, match="the two stores hold different frames"):
        run_agreement(a, against=b)


def test_two_backends_command(tmp_path):
    from click.testing import CliRunner

    from cli import hmtools

    a = _backend_store(tmp_path / "a", "ostrack+sam", {"v1": [A, A]})
    b = _backend_store(tmp_path / "b", "sam2", {"v1": [A, np.roll(A, 1, axis=1)]})
    res = CliRunner().invoke(hmtools, ["agreement", "--store", str(a.root), "--against", str(b.root), "--by", "video",
                                       "--png", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith(f"pseudo layers: {a.root} (ostrack+sam) vs {b.root} (sam2), 1 videos in both")
    header = lines[1].split()
    assert header[:3] == ["level", "name", "action_type"] and "masked" in header and "differ" in header
    row = dict(zip(header, lines[2].split()))
    assert row["name"] == "v1" and float(row["mean_iou"]) == pytest.approx(0.8)
