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


def test_attention_iou_against_hand_made_maps():
    import numpy as np

    from fineparser.metrics import attention_iou

    mask = np.zeros((2, 4, 4))
    mask[:, 1:3, 1:3] = 1.0                      # 4 foreground cells per map
    exact = mask * 0.9 + 0.05
    assert attention_iou(exact, mask) == 1.0
    assert attention_iou(exact, mask, threshold=0.5) == 1.0
    shifted = np.roll(exact, 1, axis=-1)          # 2 of the 4 cells still hit: IoU 2 / 6
    assert attention_iou(shifted, mask) == pytest.approx(2 / 6)
    everywhere = np.full_like(mask, 0.9)          # above any threshold everywhere: 4 / 16
    assert attention_iou(everywhere, mask, threshold=0.5) == pytest.approx(0.25)
    # area-matched: a map that ranks the right cells first scores 1 whatever its scale
    assert attention_iou(exact * 0.01, mask) == 1.0
    assert attention_iou(exact * 0.01, mask, threshold=0.5) == 0.0
    # maps without foreground or marked invalid are left out
    mixed = np.stack([mask[0], np.zeros((4, 4))])
    assert attention_iou(np.stack([exact[0], exact[0]]), mixed) == 1.0
    assert attention_iou(shifted, mask, valid=np.array([False, True])) == pytest.approx(2 / 6)
    assert math.isnan(attention_iou(exact, mask, valid=np.array([False, False])))
    with pytest.raises(ValueError, match="equal"):
        attention_iou(exact, mask[0])
