import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from fineparser.metrics import compute_metrics, relative_l2, spearman_rho

# Hand-computed: rank differences (-1, 1, -1, 1, 0) -> rho = 1 - 6 * 4 / (5 * 24) = 0.8;
# true range 4, errors (-1, 1, -1, 1, 0) / 4 -> mean of squares 0.05 -> R-L2 x100 = 5.0.
TABLE = [
    # pred, true, rho, rl2
    ([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], 0.8, 5.0),
    ([10, 20, 30], [1, 2, 3], 1.0, 100 * np.mean(((np.array([10, 20, 30]) - [1, 2, 3]) / 2) ** 2)),
    ([3, 2, 1], [1, 2, 3], -1.0, 100 * np.mean((np.array([2, 0, -2]) / 2) ** 2)),
    ([1.0, 2.0], [5.0, 5.0], math.nan, math.nan),        # constant truth: both undefined
    ([7.0, 7.0, 7.0], [1.0, 2.0, 3.0], math.nan, 100 * np.mean((np.array([6, 5, 4]) / 2) ** 2)),
    ([1.0], [2.0], math.nan, math.nan),
]


@pytest.mark.parametrize("pred,true,rho,rl2", TABLE)
def test_hand_computed(pred, true, rho, rl2):
    got_rho, got_rl2 = spearman_rho(pred, true), relative_l2(pred, true)
    assert (math.isnan(got_rho) and math.isnan(rho)) or got_rho == pytest.approx(rho)
    assert (math.isnan(got_rl2) and math.isnan(rl2)) or got_rl2 == pytest.approx(rl2)


def test_spearman_matches_scipy_with_ties():
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 5, 40).astype(float)   # many ties
    true = pred + rng.normal(0, 2, 40)
    assert spearman_rho(pred, true) == pytest.approx(spearmanr(pred, true).statistic, abs=1e-12)


def test_per_action_breakdown():
    pred = [1, 2, 3, 3, 2, 1]
    true = [1, 2, 3, 1, 2, 3]
    m = compute_metrics(pred, true, ["b", "b", "b", "a", "a", "a"])
    assert [g.name for g in m.per_action] == ["a", "b"]
    assert m.per_action[0].rho == pytest.approx(-1.0) and m.per_action[1].rho == pytest.approx(1.0)
    assert m.per_action[1].rl2 == 0.0 and m.per_action[1].n == 3
    assert m.rl2 == pytest.approx(100 * np.mean(((np.array(pred) - true) / 2) ** 2))
    assert m.mae == pytest.approx(np.mean(np.abs(np.array(pred) - true)))
    assert m.to_json()["per_action"][0]["name"] == "a"


def test_nan_is_written_as_null_and_lengths_checked():
    assert compute_metrics([1, 1], [2, 3]).to_json()["rho"] is None
    with pytest.raises(ValueError, match="2 predictions but 3"):
        compute_metrics([1, 2], [1, 2, 3])
