"""The review queue's calibrated model: record validation, features, fitting, precision/recall."""

import json

import numpy as np
import pytest
from helpers.correction_store import box_mask, make_store

from hmtools.review import review_queue
from hmtools.review_model import (FEATURES, QueueModel, fit_logistic, frame_features, load_model,
                                  precision_recall_at, save_model)
from hmtools.store import Flag, Quality

ONE = dict(features=("empty",), weights=(1.0,), mean=(0.0,), scale=(1.0,), bias=0.0)


@pytest.mark.parametrize("change, error", [
    (dict(features=("nope",)), "unknown features"),
    (dict(weights=(1.0, 2.0)), "1 features need 1 weights"),
    (dict(scale=(0.0,)), "scales must be > 0"),
    (dict(threshold=1.5), "threshold must be in"),
    (dict(bad_iou=-0.1), "bad_iou must be in"),
    (dict(carry=1.5), "carry must be in"),
])
def test_model_record_validates(change, error):
    with pytest.raises(ValueError, match=error):
        QueueModel(**{**ONE, **change})


def test_model_predicts_and_round_trips(tmp_path):
    m = QueueModel(**{**ONE, "mean": (0.5,), "scale": (0.5,)})
    x = np.zeros((2, len(FEATURES)))
    x[1, FEATURES.index("empty")] = 1
    assert m.predict(x) == pytest.approx(1 / (1 + np.exp([1.0, -1.0])))
    assert load_model(save_model(m, tmp_path / "m.json")) == m
    half = QueueModel(**{**ONE, "carry": 0.5})
    assert load_model(save_model(half, tmp_path / "h.json")).carry == 0.5
    old = {k: v for k, v in m.to_json().items() if k != "carry"}  # a record from before carry
    assert QueueModel.from_json(old).carry == 1.0
    (tmp_path / "bad.json").write_text(json.dumps({"features": ["empty"]}))
    with pytest.raises(ValueError, match="not a review-queue calibration record"):
        load_model(tmp_path / "bad.json")


def test_fit_logistic_separates_and_checks_shape():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    y = (x[:, FEATURES.index("prev_gap")] > 0).astype(float)
    m = fit_logistic(x, y)
    assert max(range(len(FEATURES)), key=lambda k: abs(m.weights[k])) == FEATURES.index("prev_gap")
    assert ((m.predict(x) > 0.5) == (y > 0)).mean() > 0.95
    with pytest.raises(ValueError, match=r"x must be \(N, 10\)"):
        fit_logistic(x[:, :3], y)


@pytest.mark.parametrize("budget, k, precision, recall", [(25, 1, 1.0, 0.5), (50, 2, 0.5, 0.5), (100, 4, 0.5, 1.0)])
def test_precision_recall_at(budget, k, precision, recall):
    (row,) = precision_recall_at(np.array([0.9, 0.1, 0.8, 0.2]), np.array([1, 0, 0, 1]), [budget])
    assert row == (budget, k, pytest.approx(precision), pytest.approx(recall))


def _clip(tmp_path):
    """Frames 0-1 a box, 2 empty (lost), 3 the box, 4-5 empty (the entry)."""
    size = (12, 16)
    m = box_mask(size, 2, 8, 2, 8)
    z = np.zeros(size, bool)
    f = Flag(True, ("x",))
    masks = [m, m, z, m, z, z]
    frames = [{1: (mm, Quality(score=0.9 if mm.any() else 0.0, empty=not mm.any()), f)} for mm in masks]
    return make_store(tmp_path, {"v": ("107B", frames)}, size_hw=size)


def test_frame_features_tell_a_lost_athlete_from_the_entry(tmp_path):
    x = frame_features(_clip(tmp_path).read("v"))
    col = {f: k for k, f in enumerate(FEATURES)}
    assert x[:, col["empty"]].tolist() == [0, 0, 1, 0, 1, 1]
    assert x[:, col["empty_inside"]].tolist() == [0, 0, 1, 0, 0, 0]
    assert x[:, col["prev_gap"]].tolist() == [0, 0, 1, 1, 1, 0]
    assert x[:, col["next_gap"]].tolist() == [0, 1, 1, 1, 0, 0]
    assert x[:, col["position"]].tolist() == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert x[:, col["anchor_dist"]].tolist() == pytest.approx(np.log1p([0, 1, 2, 3, 4, 5]))
    assert x[0, col["low_score"]] == pytest.approx(0.1)


def test_shipped_model_ranks_a_lost_athlete_above_the_entry(tmp_path):
    model = load_model()
    assert set(model.features) <= set(FEATURES) and model.bad_iou == 0.5
    order = [it.frame_idx for it in review_queue(_clip(tmp_path))]
    assert order.index(2) < order.index(5)


def test_shipped_model_is_not_fitted_on_the_bench_clips():
    """``bench_correction.py --quick --seed N`` runs seeds 1-4 (8 clips each); the record's clips
    must be another synthetic seed (issue 11: the old record's 24 clips of seed 1 held all 8)."""
    import re

    from hmtools.review_model import MODEL_PATH

    fitted = json.loads(MODEL_PATH.read_text())["fitted_on"]
    seed = int(re.search(r"seed (\d+)", fitted["data"]).group(1))
    assert seed not in (1, 2, 3, 4) and "--seed" in fitted["command"], fitted["data"]


def test_shipped_carry_is_the_best_of_its_calibration_loops():
    """``carry`` is the value of the grid whose simulated correction loop reached the highest mean
    IoU averaged over its rounds (benchmarks/calibrate_queue.py), and the record keeps every curve."""
    model = load_model()
    loops = model.fitted_on["carry"]["loop"]
    assert len(loops) >= 2 and model.fitted_on["carry"]["chosen"] == model.carry
    means = {float(c): np.mean([r["mean_iou"] for r in curve]) for c, curve in loops.items()}
    assert max(means, key=lambda c: (means[c], c)) == model.carry
    assert [r["budget"] for r in loops[f"{model.carry:g}"]] == [2.0, 5.0]
