import numpy as np
import pytest

from fineparser.probes import exemplar_baseline, mask_shape_features, ridge_fit_predict


def test_ridge_recovers_a_linear_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = 2.0 * x[:, 0] - 1.0 * x[:, 2] + 5.0
    test = np.array([[1.0, 0.0, 0.0], [0.0, 9.0, -1.0]])
    assert ridge_fit_predict(x, y, test, lam=1e-9) == pytest.approx([7.0, 6.0], abs=1e-6)
    shrunk = ridge_fit_predict(x, y, test, lam=1e3)  # a strong penalty pulls towards the mean
    assert abs(shrunk[0] - y.mean()) < abs(7.0 - y.mean())


@pytest.mark.parametrize("bad", [(np.zeros((3,)), np.zeros(3), np.zeros((1, 1))),
                                 (np.zeros((3, 2)), np.zeros(2), np.zeros((1, 2))),
                                 (np.zeros((3, 2)), np.zeros(3), np.zeros((1, 3)))])
def test_ridge_refuses_mismatched_shapes(bad):
    with pytest.raises(ValueError, match="ridge_fit_predict"):
        ridge_fit_predict(*bad)


def test_mask_shape_features_of_hand_made_masks():
    m = np.zeros((8, 10, 10), bool)
    m[0:2, 0:4, 0:2] = True        # take-off: not part of the flight statistics
    m[2, 2:6, 2:6] = True          # flight: a filled 4 x 4 square (compactness 1, aspect 1)
    m[3, 2:6, 2:6] = True
    m[3, 3:5, 3:5] = False         # ... with a hole: compactness 12 / 16
    m[4:8, 1:9, 4] = True          # the 4 frames before the entry (transition 8): vertical bars
    compact, aspect_mean, aspect_std, area, angle = mask_shape_features(m, (2, 8))
    assert compact == pytest.approx((1 + 0.75 + 4) / 6)
    assert aspect_mean == pytest.approx((1 + 1 + 4 * 8) / 6)
    assert aspect_std == pytest.approx(np.std([1, 1, 8, 8, 8, 8]))
    assert area == pytest.approx(np.mean([8, 8, 16, 12, 8, 8, 8, 8]) / 100)
    assert angle == pytest.approx(0.0, abs=1e-6)
    tilted = m.copy()
    tilted[4:8] = np.eye(10, dtype=bool)  # a diagonal: 45 degrees from vertical
    assert mask_shape_features(tilted, (2, 8))[4] == pytest.approx(45.0)
    assert np.isnan(mask_shape_features(np.zeros((4, 5, 5)), (1, 3))).all()
    with pytest.raises(ValueError, match="two transitions"):
        mask_shape_features(m, (2,))


def test_exemplar_baseline_is_the_mean_exemplar_score():
    scores = np.array([10.0, 20.0, 30.0, 60.0])
    plan = {0: [1, 2], 3: [0], 1: []}
    out = exemplar_baseline(scores, plan, [0, 3, 1])
    assert out[:2].tolist() == [25.0, 10.0] and np.isnan(out[2])
