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
