"""Pictures: SAP overlay and Fig. 7 heat maps are written as non-trivial PNGs of the right size."""

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from fineparser.losses import soft_labels
from fineparser.viz import attention_overlay_png, temporal_attention_png


def test_attention_overlay_has_one_panel_per_frame(tmp_path):
    frames = (np.random.default_rng(0).random((8, 32, 32, 3)) * 255).astype(np.uint8)
    attention = torch.zeros(4, 8, 8)
    attention[:, 2:6, 2:6] = 1.0
    path = attention_overlay_png(frames, attention, tmp_path / "sap.png", panel_px=100)
    image = mpimg.imread(path)
    assert image.shape[:2] == (120, 800)  # 20-pixel title row
    assert image[..., :3].std() > 0.05


def test_overlay_accepts_channel_first_and_rejects_bad_shapes(tmp_path):
    path = attention_overlay_png(torch.rand(3, 2, 16, 16), torch.rand(1, 4, 4), tmp_path / "a.png", panel_px=50)
    assert mpimg.imread(path).shape[:2] == (70, 100)
    with pytest.raises(ValueError, match="attention"):
        attention_overlay_png(torch.rand(2, 16, 16, 3), torch.rand(4, 4), tmp_path / "b.png")


def test_temporal_attention_figure(tmp_path):
    t = soft_labels(torch.tensor([[6, 14]]), 20, 6)[0]
    a1 = torch.softmax(torch.randn(6, 20), -1)
    path = temporal_attention_png(a1, t * 0.9 + 0.005, t, tmp_path / "fig7.png")
    image = mpimg.imread(path)
    assert image.shape[0] >= 200 and image.shape[1] >= 900
    assert image[..., :3].std() > 0.05
    with pytest.raises(ValueError, match="three"):
        temporal_attention_png(a1, a1[:3], t, tmp_path / "x.png")


def test_training_curve_and_prediction_scatter(tmp_path):
    from fineparser.viz import predictions_png, training_curve_png

    lines = [{"epoch": e, "loss_e": 4.0 / e, "loss_a": 0.3 / e, "loss_t": 0.2,
              **({"eval": {"rho": 0.2 * e}, "eval_split": "val"} if e % 2 == 0 else {})}
             for e in range(1, 7)]
    image = mpimg.imread(training_curve_png(lines, tmp_path / "curves.png"))
    assert image.shape[:2] == (340, 900) and image[..., :3].std() > 0.05
    with pytest.raises(ValueError, match="no epochs"):
        training_curve_png([], tmp_path / "empty.png")
    true = np.linspace(20, 90, 30)
    path = predictions_png(true, true + np.sin(true), tmp_path / "pred.png", "test: rho 0.99",
                           baseline=np.full(30, 55.0))
    assert mpimg.imread(path).shape[:2] == (420, 420)
    with pytest.raises(ValueError, match="two"):
        predictions_png(true, true[:3], tmp_path / "bad.png")
